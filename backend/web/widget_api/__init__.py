"""The public widget API under /api/public/v1: visitor-token auth, CORS per property."""

from __future__ import annotations

from flask import Blueprint

from backend.web.security import csrf

bp = Blueprint("widget_api", __name__, url_prefix="/api/public/v1")
csrf.exempt(bp)

from backend.web.widget_api import (  # noqa: E402,F401  (registers routes)
    cors,
    openapi_spec,
    receipts,
    rights,
    views,
)

bp.before_request(cors.gate)
bp.after_request(cors.decorate)
