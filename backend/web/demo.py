"""The /demo customer page: the embed snippet of PRODUCT 1.6 with a freshly minted visitor token."""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, render_template, request

from backend.domain.errors import NotFoundError, ValidationError
from backend.services.demo import DEMO_PROPERTY
from backend.services.visitor_tokens import mint_token
from backend.web import current_deps

bp = Blueprint("demo", __name__)

DEMO_VISITOR = "demo-visitor-1"
DEMO_EMAIL = "visitor@example.com"
DEMO_TTL = 3600


@bp.get("/demo")
def demo() -> Response | tuple[str, int]:
    """A page as a customer's site would serve it, signed in as the demo visitor."""
    deps = current_deps()
    lang = "es" if request.args.get("lang") == "es" else "en"
    try:
        token = mint_token(deps, DEMO_PROPERTY, DEMO_VISITOR, email=DEMO_EMAIL, ttl=DEMO_TTL)
    except (NotFoundError, ValidationError):
        return "The demo is not seeded: run `make dev` (or `optline dev`).", 404
    nonce = secrets.token_urlsafe(16)
    html = render_template(
        "demo/page.html",
        token=token,
        nonce=nonce,
        lang=lang,
        property_code=DEMO_PROPERTY,
        public_url=deps.settings.public_url,
        external_id=DEMO_VISITOR,
        email=DEMO_EMAIL,
        ttl=DEMO_TTL,
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}' {deps.settings.public_url}; "
        f"connect-src 'self' {deps.settings.public_url}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    return response
