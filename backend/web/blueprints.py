"""The list of blueprints the app serves; a new surface adds itself here."""

from __future__ import annotations

from flask import Blueprint

from backend.web import (
    admin,
    admin_api,
    demo,
    health,
    hosted,
    metrics,
    openapi,
    rights_download,
    sync_callback,
    tag,
    widget_api,
)

BLUEPRINTS: list[Blueprint] = [
    health.bp,
    metrics.bp,
    openapi.bp,
    admin.bp,
    admin_api.bp,
    demo.bp,
    tag.bp,
    widget_api.bp,
    rights_download.bp,
    hosted.bp,
    sync_callback.bp,
]
