"""``POST /api/sync/v1/export-ready``: Braze's ``callback_endpoint`` for segment exports.

Braze calls it once an export's files are all written. The URL is one Optline gave out for one
run (signed, see ``domain.export_callback``); a genuine call ends the run's wait for more files
without the quiet period. An unsigned or altered call is a 403 and changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from backend.domain.export_callback import PATH
from backend.services import sync_callback
from backend.web import current_deps, openapi_fragments
from backend.web.security import csrf, limiter

bp = Blueprint("sync_callback", __name__)
csrf.exempt(bp)  # no cookie is involved: the signed URL is the proof


@bp.post(PATH)
@limiter.limit("60/minute")
def export_ready() -> ResponseReturnValue:
    body = request.get_json(force=True, silent=True)
    marked = sync_callback.receive(
        current_deps(), request.args.get("run"), request.args.get("sig"), body
    )
    return jsonify({"received": True, "marked": marked})


_ERROR: dict[str, Any] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
openapi_fragments.register(
    {
        "paths": {
            PATH: {
                "post": {
                    "tags": ["sync"],
                    "summary": "Braze's callback: a segment export is complete (signed URL)",
                    "security": [],
                    "parameters": [
                        {"name": "run", "in": "query", "required": True,
                         "schema": {"type": "string"}},
                        {"name": "sig", "in": "query", "required": True,
                         "schema": {"type": "string"}},
                    ],
                    "requestBody": {
                        "content": {"application/json": {"schema": {"type": "object"}}}
                    },
                    "responses": {
                        "200": {
                            "description": "received; marked is false unless success was true",
                            "content": {"application/json": {"schema": {
                                "type": "object",
                                "required": ["received", "marked"],
                                "properties": {"received": {"type": "boolean"},
                                               "marked": {"type": "boolean"}},
                            }}},
                        },
                        "403": {"description": "not a callback address Optline gave out",
                                "content": _ERROR},
                        "404": {"description": "the run no longer exists", "content": _ERROR},
                        "429": {"description": "too many calls", "content": _ERROR},
                    },
                }
            }
        }
    }
)  # fmt: skip
