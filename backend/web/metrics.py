"""GET /metrics for Prometheus, behind an admin API token (scrape with `authorization` set)."""

from __future__ import annotations

from flask import Blueprint, Response

from backend.services.metrics import collect, render
from backend.web import current_deps
from backend.web.security import require_api_token

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@require_api_token
def metrics() -> Response:
    return Response(render(collect(current_deps())), mimetype="text/plain; version=0.0.4")
