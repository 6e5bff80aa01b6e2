"""Braze REST hosts we may call: the published list guards against requests to arbitrary hosts."""

from __future__ import annotations

from urllib.parse import urlsplit

# One REST host per Braze instance (braze_api.md §0.1, data_centers.md). US-10 is listed under both
# names because two versions of the docs disagree.
BRAZE_REST_HOSTS: frozenset[str] = frozenset(
    {
        "rest.iad-01.braze.com",
        "rest.iad-02.braze.com",
        "rest.iad-03.braze.com",
        "rest.iad-04.braze.com",
        "rest.iad-05.braze.com",
        "rest.iad-06.braze.com",
        "rest.iad-07.braze.com",
        "rest.iad-08.braze.com",
        "rest.iad-10.braze.com",
        "rest.us-10.braze.com",
        "rest.fra-01.braze.eu",
        "rest.fra-02.braze.eu",
        "rest.au-01.braze.com",
    }
)


def normalise_rest_endpoint(url: str) -> str:
    """One spelling per endpoint, so stored URLs compare equal and paths join cleanly."""
    url = url.strip()
    while url.endswith("/"):
        url = url[:-1]
    parts = urlsplit(url)
    if parts.scheme and parts.netloc:
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}" + (
            f"?{parts.query}" if parts.query else ""
        )
    return url


def check_rest_endpoint(url: str, allow_custom: bool) -> str | None:
    """Say in words what is wrong with a REST endpoint an admin typed, or None when it is usable.

    Without ``allow_custom`` only Braze's published hosts pass, so a stored endpoint can never make
    the server call an internal address (SSRF). ``allow_custom`` is for local fakes and proxies.
    """
    text = url.strip()
    if not text:
        return "Enter the REST endpoint of your Braze instance, e.g. https://rest.iad-01.braze.com"
    if any(ch.isspace() for ch in text) or "\\" in text:
        return "The REST endpoint must not contain spaces or backslashes"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.netloc:
        return "The REST endpoint must be a full URL starting with https://"
    if scheme == "http" and not allow_custom:
        return "The REST endpoint must use https://"
    if "@" in parts.netloc:
        return "The REST endpoint must not contain a user name or password"
    if parts.query or text.endswith("?"):
        return "The REST endpoint must not have a query string (nothing after '?')"
    if parts.fragment or "#" in text:
        return "The REST endpoint must not have a fragment (nothing after '#')"
    if parts.path not in ("", "/"):
        return "The REST endpoint must be the bare host, without a path such as /users/track"
    host = (parts.hostname or "").lower()
    if not host:
        return "The REST endpoint has no host name"
    try:
        port = parts.port
    except ValueError:
        return "The REST endpoint has an invalid port"
    if allow_custom:
        return None
    if host not in BRAZE_REST_HOSTS:
        return (
            f"{host} is not a Braze REST endpoint; use the one shown for your instance "
            "(e.g. https://rest.iad-01.braze.com or https://rest.fra-01.braze.eu)"
        )
    if port not in (None, 443):
        return "The REST endpoint must not name a port"
    return None
