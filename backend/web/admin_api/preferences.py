"""Admin API reads of preferences, the consent ledger and the outbox (PRODUCT 1.5), the ledger's
chain check, dead-letter replay, and preference changes made on someone's behalf."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue

from backend.domain.errors import FieldError, ValidationError
from backend.domain.preferences import MAX_CHANGES, parse_changes
from backend.services import ledger, outbox_admin, preferences
from backend.web import current_deps, openapi_fragments
from backend.web.admin_api import bp
from backend.web.security import require_api_token

MAX_ID = 2**62  # beyond any row id; larger ints overflow the database's integer


def _person() -> dict[str, str | None]:
    external_id = request.args.get("external_id") or None
    email = request.args.get("email") or None
    if bool(external_id) == bool(email):
        raise ValidationError(FieldError("external_id", "give exactly one of external_id or email"))
    return {"external_id": external_id, "email": email}


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(FieldError(name, "must be an integer")) from None
    if not low <= value <= high:
        raise ValidationError(FieldError(name, f"must be between {low} and {high}"))
    return value


def _json_object() -> dict[str, Any]:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ValidationError("body: must be a JSON object")
    return body


@bp.get("/preferences")
@require_api_token
def get_preferences() -> ResponseReturnValue:
    return jsonify({"preferences": preferences.admin_preferences(current_deps(), **_person())})


@bp.put("/preferences")
@require_api_token
def put_preferences() -> ResponseReturnValue:
    """Record choices for someone (source "api"; proof names the API token)."""
    body = _json_object()
    raw = body.get("changes")
    if not isinstance(raw, list) or len(raw) > MAX_CHANGES:
        raise ValidationError(FieldError("changes", f"an array of at most {MAX_CHANGES} changes"))
    external_id, email = body.get("external_id"), body.get("email")
    for name, value in (("external_id", external_id), ("email", email)):
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 254):
            raise ValidationError(FieldError(name, "must be a non-empty string"))
    result = preferences.admin_set_preferences(
        current_deps(),
        external_id=external_id,
        email=email,
        changes=parse_changes(raw),
        actor=str(g.api_actor),
        source="api",
    )
    return jsonify(result)


@bp.get("/ledger")
@require_api_token
def get_ledger() -> ResponseReturnValue:
    limit = _int_arg("limit", 500, 1, ledger.MAX_ENTRIES)
    return jsonify({"entries": ledger.entries_for(current_deps(), limit=limit, **_person())})


@bp.get("/ledger/verify")
@require_api_token
def verify_ledger() -> ResponseReturnValue:
    return jsonify(ledger.verify_chain(current_deps()))


@bp.get("/outbox")
@require_api_token
def get_outbox() -> ResponseReturnValue:
    return jsonify(
        outbox_admin.outbox_summary(
            current_deps(),
            status=request.args.get("status") or None,
            connection=request.args.get("connection") or None,
            limit=_int_arg("limit", 100, 1, outbox_admin.MAX_LIST),
        )
    )


@bp.post("/outbox/replay")
@require_api_token
def replay_outbox() -> ResponseReturnValue:
    body = request.get_json(force=True, silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        raise ValidationError("body: must be a JSON object")
    connection, ids = body.get("connection"), body.get("ids")
    if connection is not None and not isinstance(connection, str):
        raise ValidationError(FieldError("connection", "must be a connection code"))
    if ids is not None and (
        not isinstance(ids, list)
        or not all(isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= MAX_ID for i in ids)
    ):
        raise ValidationError(FieldError("ids", "must be an array of outbox row ids"))
    if ids == []:
        # An empty filter must not widen to "everything": leave ids out to replay every dead row.
        raise ValidationError(FieldError("ids", "give at least one id, or leave ids out"))
    return jsonify(outbox_admin.replay_dead(current_deps(), connection=connection, ids=ids))


ERROR = {"$ref": "#/components/schemas/Error"}
JSON = "application/json"


def _admin(summary: str, response: dict[str, Any], params: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "tags": ["preferences"],
        "summary": summary,
        "security": [{"adminToken": []}],
        "parameters": [
            {"name": p, "in": "query", "required": False, "schema": {"type": "string"}}
            for p in params
        ],
        "responses": {
            "200": {"description": "success", "content": {JSON: {"schema": response}}},
            "400": {"description": "bad input", "content": {JSON: {"schema": ERROR}}},
            "401": {"description": "missing or invalid admin token"},
        },
    }  # fmt: skip


_PREFERENCE = {
    "type": "object",
    "properties": {
        "subscription": {"type": "string"},
        "channel": {"type": "string"},
        "state": {"type": "string", "enum": ["subscribed", "unsubscribed"]},
        "sync_status": {"type": "string", "enum": ["pending", "synced", "failed"]},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_ENTRY = {
    "type": "object",
    "properties": {
        name: {"type": "integer" if name == "id" else "string"}
        for name in (
            "id", "at", "subscription", "channel", "state", "source", "proof", "property", "hash",
            "prev_hash",
        )
    },
}  # fmt: skip
_PREFS = {"type": "object", "properties": {"preferences": {"type": "array", "items": _PREFERENCE}}}
_PUT = _admin("Record choices on someone's behalf (ledger source api)", _PREFS)
_PUT["requestBody"] = {
    "required": True,
    "content": {"application/json": {"schema": {"type": "object", "properties": {
        "external_id": {"type": "string"}, "email": {"type": "string"},
        "changes": {"type": "array", "items": {"type": "object"}},
    }}}},
}  # fmt: skip
_REPLAY = _admin("Dead-letter rows back to pending (optional connection / ids filter)", {})
_OUTBOX = _admin(
    "Outbox depth per status and the sync lag; rows of one status",
    {"type": "object"},
    ("status", "connection", "limit"),
)
_UNKNOWN_CONNECTION = {"description": "unknown connection", "content": {JSON: {"schema": ERROR}}}
_OUTBOX["responses"]["404"] = _REPLAY["responses"]["404"] = _UNKNOWN_CONNECTION
_REPLAY["requestBody"] = {
    "content": {"application/json": {"schema": {"type": "object", "properties": {
        "connection": {"type": "string"},
        "ids": {"type": "array", "minItems": 1, "items": {"type": "integer"}},
    }}}},
}  # fmt: skip

openapi_fragments.register(
    {
        "paths": {
            "/api/admin/v1/preferences": {
                "get": _admin("A person's current choices", _PREFS, ("external_id", "email")),
                "put": _PUT,
            },
            "/api/admin/v1/ledger": {
                "get": _admin(
                    "A person's consent ledger entries, newest first",
                    {
                        "type": "object",
                        "properties": {"entries": {"type": "array", "items": _ENTRY}},
                    },
                    ("external_id", "email", "limit"),
                )
            },
            "/api/admin/v1/ledger/verify": {
                "get": _admin(
                    "Check the ledger's hash chain",
                    {
                        "type": "object",
                        "properties": {
                            "ok": {"type": "boolean"},
                            "entries": {"type": "integer"},
                            "first_bad_id": {"type": "integer", "nullable": True},
                        },
                    },
                )
            },
            "/api/admin/v1/outbox": {"get": _OUTBOX},
            "/api/admin/v1/outbox/replay": {"post": _REPLAY},
        }
    }
)
