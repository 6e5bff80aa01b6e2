"""The admin settings page: session login, Flask-WTF forms, CSRF on every form."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from backend.web.admin import (  # noqa: E402,F401
    auth,
    connections,
    mail,
    objects,
    outbox,
    rights,
    sync,
    sync_config,
    tokens,
    views,
    visitors,
)
