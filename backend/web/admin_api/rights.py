"""Admin API: rights requests (PRODUCT 1.5) and Braze email states (blocklist, global status)."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue

from backend.domain.rights import STATUSES, parse_admin_request
from backend.services import email_states, rights
from backend.web import current_deps, openapi_fragments
from backend.web.admin_api import bp
from backend.web.admin_api.views import json_object, query_int
from backend.web.security import require_api_token


@bp.post("/rights-requests")
@require_api_token
def create_rights_request() -> ResponseReturnValue:
    """``{"type": "access"|"erasure", "external_id"|"email": …}`` → ``{"id", "status"}``."""
    req = parse_admin_request(json_object())
    result = rights.create_admin_request(current_deps(), req, actor=str(g.api_actor))
    return jsonify(result), 202


@bp.get("/rights-requests")
@require_api_token
def list_rights_requests() -> ResponseReturnValue:
    limit = query_int("limit", 50, maximum=rights.MAX_LIST)
    found = rights.admin_list(
        current_deps(), status=request.args.get("status") or None, limit=limit or 50
    )
    return jsonify({"rights_requests": found})


@bp.get("/rights-requests/<public_id>")
@require_api_token
def get_rights_request(public_id: str) -> ResponseReturnValue:
    return jsonify(rights.admin_status(current_deps(), public_id))


@bp.post("/email/blocklist")
@require_api_token
def blocklist_emails() -> ResponseReturnValue:
    """``{"connection", "emails": [...]}`` → Braze ``/email/blocklist``, 50 addresses a call."""
    action = email_states.parse_action(json_object(), with_state=False)
    return jsonify(email_states.blocklist(current_deps(), action, actor=str(g.api_actor)))


@bp.post("/email/status")
@require_api_token
def set_email_status() -> ResponseReturnValue:
    """``{"connection", "emails": [...], "state"}`` → Braze ``/email/status``, 50 a call."""
    action = email_states.parse_action(json_object(), with_state=True)
    return jsonify(email_states.set_status(current_deps(), action, actor=str(g.api_actor)))


JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}


def _responses(status: str, schema: dict[str, Any], *errors: str) -> dict[str, Any]:
    words = {
        "400": "bad input",
        "401": "missing or invalid admin token",
        "404": "not found",
        "502": "Braze refused",
        "503": "Braze unavailable (retry later)",
    }
    out: dict[str, Any] = {
        status: {"description": "success", "content": {JSON: {"schema": schema}}}
    }
    for code in ("401", *errors):
        out[code] = {"description": words[code], "content": {JSON: {"schema": ERROR}}}
    return out


def _op(summary: str, responses: dict[str, Any], body: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "tags": ["rights"],
        "summary": summary,
        "security": [{"adminToken": []}],
        "responses": responses,
    }
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    return op


STATUS_VIEW = {"$ref": "#/components/schemas/RightsRequestStatus"}
EMAILS = {
    "type": "array",
    "minItems": 1,
    "maxItems": email_states.MAX_EMAILS,
    "items": {"type": "string", "format": "email"},
}

openapi_fragments.register(
    {
        "paths": {
            "/api/admin/v1/rights-requests": {
                "post": _op(
                    "Ask for a person's data (access) or its deletion (erasure)",
                    _responses("202", {"$ref": "#/components/schemas/RightsRequestCreated"}, "400"),
                    "RightsRequestInput",
                ),
                "get": {
                    **_op(
                        "Rights requests, newest first",
                        _responses(
                            "200",
                            {
                                "type": "object",
                                "properties": {
                                    "rights_requests": {"type": "array", "items": STATUS_VIEW}
                                },
                            },
                            "400",
                        ),
                    ),
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": list(STATUSES)},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": rights.MAX_LIST},
                        },
                    ],
                },
            },
            "/api/admin/v1/rights-requests/{public_id}": {
                "get": {
                    **_op(
                        "One rights request; a completed access request carries download_url",
                        _responses("200", STATUS_VIEW, "404"),
                    ),
                    "parameters": [
                        {
                            "name": "public_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                }
            },
            "/api/admin/v1/email/blocklist": {
                "post": _op(
                    "Blocklist addresses in Braze (unsubscribed and hard-bounced)",
                    _responses(
                        "200",
                        {"$ref": "#/components/schemas/EmailStateResult"},
                        "400",
                        "404",
                        "502",
                        "503",
                    ),
                    "EmailBlocklistInput",
                )
            },
            "/api/admin/v1/email/status": {
                "post": _op(
                    "Set addresses' global email subscription state in Braze",
                    _responses(
                        "200",
                        {"$ref": "#/components/schemas/EmailStateResult"},
                        "400",
                        "404",
                        "502",
                        "503",
                    ),
                    "EmailStatusInput",
                )
            },
        },
        "schemas": {
            "RightsRequestInput": {
                "type": "object",
                "required": ["type"],
                "additionalProperties": False,
                "properties": {
                    "type": {"type": "string", "enum": ["access", "erasure"]},
                    "external_id": {"type": "string", "maxLength": 255},
                    "email": {"type": "string", "format": "email"},
                },
            },
            "RightsRequestCreated": {
                "type": "object",
                "required": ["id", "status"],
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": list(STATUSES)},
                },
            },
            "RightsRequestStatus": {
                "type": "object",
                "required": ["id", "type", "status", "created_at"],
                "properties": {
                    "id": {"type": "string"},
                    "type": {"type": "string", "enum": ["access", "erasure"]},
                    "status": {"type": "string", "enum": list(STATUSES)},
                    "source": {"type": "string", "enum": ["widget", "admin", "api"]},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                    "completed_at": {"type": "string", "format": "date-time", "nullable": True},
                    "error": {"type": "string"},
                    "download_url": {"type": "string", "format": "uri"},
                    "download_expires_at": {"type": "string", "format": "date-time"},
                    "download_expired": {"type": "boolean"},
                },
            },
            "EmailBlocklistInput": {
                "type": "object",
                "required": ["connection", "emails"],
                "additionalProperties": False,
                "properties": {"connection": {"type": "string"}, "emails": EMAILS},
            },
            "EmailStatusInput": {
                "type": "object",
                "required": ["connection", "emails", "state"],
                "additionalProperties": False,
                "properties": {
                    "connection": {"type": "string"},
                    "emails": EMAILS,
                    "state": {"type": "string", "enum": list(email_states.STATES)},
                },
            },
            "EmailStateResult": {
                "type": "object",
                "properties": {
                    "connection": {"type": "string"},
                    "state": {"type": "string"},
                    "emails": {"type": "integer", "description": "addresses Braze accepted"},
                    "calls": {"type": "integer"},
                    "ledger_entries": {"type": "integer"},
                },
            },
        },
    }
)
