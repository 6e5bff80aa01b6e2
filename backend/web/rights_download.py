"""``/rights/download/<token>``: the document of a completed access request, behind its link.

The token is random (256 bits) and stored only as a hash and encrypted; the link expires after
seven days (410), unknown tokens are 404, and every answer is ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response

from backend.domain.errors import NotFoundError
from backend.services import rights
from backend.web import current_deps
from backend.web.errors import error_response
from backend.web.security import limiter

bp = Blueprint("rights_download", __name__)
MAX_TOKEN_LENGTH = 128


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/rights/download/<token>")
@limiter.limit("30/minute")
def download(token: str) -> Response:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return _no_store(error_response(404, "not_found", "no such download"))
    try:
        document, filename = rights.open_download(current_deps(), token)
    except rights.GoneError as exc:
        return _no_store(error_response(410, "gone", str(exc)))
    except NotFoundError as exc:
        return _no_store(error_response(404, "not_found", str(exc)))
    body = json.dumps(document, ensure_ascii=False, indent=2)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _no_store(response)
