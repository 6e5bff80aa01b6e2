"""Checks of single configuration values: each says in words what is wrong, or returns None."""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import urlsplit

from backend.domain.languages import ISO_639_1

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
HOST_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
# Plain-http origins are only safe on the machine itself (development).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
THEME_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,49}")
# Characters that could end a CSS declaration or open markup if a value were pasted into a style.
THEME_FORBIDDEN = frozenset(";{}<>\\")
PEM_RE = re.compile(
    r"-----BEGIN (?P<label>[A-Z ]+)-----\s*(?P<body>[A-Za-z0-9+/=\s]+?)\s*-----END (?P=label)-----"
)


def language_problem(code: str) -> str | None:
    if code in ISO_639_1:
        return None
    if code.lower() in ISO_639_1:
        return f"{code!r} must be written in lowercase: {code.lower()!r}"
    return f"{code!r} is not an ISO 639-1 language code (two letters, e.g. en, es, pt)"


def group_id_problem(value: str) -> str | None:
    if UUID_RE.fullmatch(value):
        return None
    return (
        f"{value!r} is not a Braze subscription group id "
        "(a UUID such as 3b2c1d4e-0000-4000-8000-000000000001)"
    )


def _host_of(netloc: str) -> str:
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.split(":", 1)[0]


def origin_problem(value: str) -> str | None:
    """An origin is scheme://host[:port]: what browsers send in the Origin header."""
    if "*" in value:
        return f"{value!r}: wildcards are not allowed; list each origin"
    if any(ch.isspace() for ch in value):
        return f"{value!r} must not contain spaces"
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        return f"{value!r} is not an origin such as https://www.example.com"
    if "@" in parts.netloc:
        return f"{value!r} must not contain a user name or password"
    if parts.path not in ("", "/") or parts.query or parts.fragment or value.endswith(("?", "#")):
        return f"{value!r} must be scheme://host[:port] without a path (an origin, not a page)"
    host = _host_of(parts.netloc.lower())
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return f"{value!r} has an invalid port"
    if host not in LOOPBACK_HOSTS and not HOST_RE.fullmatch(host):
        return f"{value!r} has an invalid host name"
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        return f"{value!r} must use https:// (plain http is only allowed for localhost)"
    return None


def normalise_origin(value: str) -> str:
    """Spell an origin the way browsers send it: lowercase, no trailing slash, no default port."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    host = _host_of(parts.netloc.lower())
    port = parts.port
    if port is None or (scheme, port) in (("https", 443), ("http", 80)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def url_problem(value: str) -> str | None:
    """A plain http(s) URL with a host (S3-compatible endpoints)."""
    if any(ch.isspace() for ch in value):
        return "must not contain spaces"
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return f"{value!r} is not an http(s) URL such as https://s3.example.com"
    if "@" in parts.netloc:
        return "must not contain a user name or password"
    try:
        parts.port  # noqa: B018
    except ValueError:
        return f"{value!r} has an invalid port"
    return None


def theme_value_problem(value: str) -> str | None:
    if any(ch in THEME_FORBIDDEN for ch in value):
        return "must not contain ; { } < > or backslashes"
    return None


def public_key_problem(pem: str, algorithm: str) -> str | None:
    """Check the PEM armour only; the service checks that the key really parses."""
    if "PRIVATE KEY" in pem:
        return "this is a private key: give only the public key (keep the private key secret)"
    match = PEM_RE.fullmatch(pem.strip())
    if match is None:
        return "expected a PEM public key (-----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY-----)"
    labels = ("PUBLIC KEY", "RSA PUBLIC KEY") if algorithm == "RS256" else ("PUBLIC KEY",)
    if match.group("label") not in labels:
        return f"expected a PEM block labelled {' or '.join(labels)}"
    try:
        base64.b64decode("".join(match.group("body").split()), validate=True)
    except (binascii.Error, ValueError):
        return "the PEM body is not valid base64"
    return None


def normalise_pem(pem: str) -> str:
    return "\n".join(line.strip() for line in pem.strip().splitlines() if line.strip()) + "\n"
