"""The admin JSON API under /api/admin/v1, authenticated by bearer tokens."""

from __future__ import annotations

from flask import Blueprint

from backend.web.security import csrf

bp = Blueprint("admin_api", __name__, url_prefix="/api/admin/v1")
csrf.exempt(bp)

# Importing the view modules registers their routes: views (settings objects), preferences
# (preference/ledger/outbox reads), profiles and sync (profile sync), rights (requests,
# email states).
from backend.web.admin_api import (  # noqa: E402, F401
    preferences,
    profiles,
    rights,
    sync,
    views,
)
