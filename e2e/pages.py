"""The customer's pages: the embed snippet of PRODUCT 1.6, exactly, plus what a test adds."""

from __future__ import annotations

import json
import secrets

# PRODUCT 1.6, word for word, with the token the customer's backend minted for this visit.
STUB = "window.optline = window.optline || function () { (optline.q = optline.q || []).push(arguments) };"  # noqa: E501
SNIPPET = """<script{nonce}>
  {stub}
  {identify}
</script>
<script async src="{tag_url}"></script>"""


def host_page(
    tag_url: str,
    *,
    token: str | None = None,
    lang: str = "en",
    body: str = "<div data-optline-preferences></div>",
    head: str = "",
    before_tag: str = "",
    nonce: str | None = None,
) -> str:
    """A customer page; ``before_tag`` runs first (e.g. to put the token in a cookie)."""
    attr = f' nonce="{nonce}"' if nonce else ""
    identify = f"optline('identify', {json.dumps(token)});" if token is not None else ""
    early = f"<script{attr}>{before_tag}</script>" if before_tag else ""
    snippet = SNIPPET.format(nonce=attr, stub=STUB, identify=identify, tag_url=tag_url)
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>ACME — account</title>
{early}
{snippet}
{head}
</head>
<body>
<main>
<h1>Your account</h1>
{body}
</main>
</body>
</html>
"""


def strict_csp(optline_url: str) -> tuple[str, dict[str, str]]:
    """A nonce and a strict CSP (no 'unsafe-inline' styles or scripts) that allows the tag."""
    nonce = secrets.token_urlsafe(12)
    policy = (
        f"default-src 'self'; script-src 'nonce-{nonce}' {optline_url}; "
        f"connect-src {optline_url}; style-src 'self'; img-src 'self'; object-src 'none'; "
        "base-uri 'none'"
    )
    return nonce, {"Content-Security-Policy": policy}
