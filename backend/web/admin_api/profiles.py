"""Admin API: the profile read (PRODUCT 1.5), the batch ingest API, segment refresh and members."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from backend.domain.errors import FieldError, ValidationError
from backend.domain.profiles import parse_profile
from backend.services import profiles as profile_service
from backend.services import segment_admin
from backend.web import current_deps, openapi_fragments
from backend.web.admin_api import bp
from backend.web.admin_api.views import json_object, query_int
from backend.web.security import require_api_token

MAX_BATCH = 1000
MAX_BATCH_BYTES = 5 * 1024 * 1024  # this route only; the app refuses bodies above 256 KB


@bp.get("/profiles")
@require_api_token
def get_profiles() -> ResponseReturnValue:
    external_id = request.args.get("external_id") or None
    email = request.args.get("email") or None
    if not external_id and not email:
        raise ValidationError(FieldError("external_id", "give external_id or email"))
    found = profile_service.find_profiles(current_deps(), external_id=external_id, email=email)
    return jsonify({"profiles": found})


@bp.post("/profiles:batch")
@require_api_token
def ingest_profiles() -> ResponseReturnValue:
    """Up to 1,000 profiles; each is applied or reported on its own (per-item results)."""
    request.max_content_length = MAX_BATCH_BYTES
    body = json_object()
    items = body.get("profiles")
    unknown = sorted(set(body) - {"profiles"})
    if unknown:
        raise ValidationError(FieldError(unknown[0], "unknown key; expected profiles"))
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise ValidationError(FieldError("profiles", f"an array of 1 to {MAX_BATCH} profiles"))
    results: list[dict[str, Any] | None] = [None] * len(items)
    parsed = []
    for index, raw in enumerate(items):
        try:
            parsed.append((index, parse_profile(raw)))
        except ValidationError as exc:
            results[index] = {
                "index": index,
                "status": "failed",
                "errors": [
                    {
                        "path": f"profiles[{index}]" + ("." + e.path if e.path else ""),
                        "message": e.message,
                    }
                    for e in exc.errors
                ],
            }
    applied = profile_service.upsert_profiles(current_deps(), [p for _, p in parsed])
    for (index, _), outcome in zip(parsed, applied, strict=True):
        entry: dict[str, Any] = {
            "index": index,
            "status": outcome.status,
            "id": outcome.profile_key,
        }
        if outcome.error:
            entry["errors"] = [{"path": f"profiles[{index}]", "message": outcome.error}]
        results[index] = entry
    counts = dict.fromkeys(("created", "updated", "unchanged", "skipped", "failed"), 0)
    for result in results:
        assert result is not None
        counts[result["status"]] += 1
    return jsonify({"counts": counts, "results": results})


@bp.post("/segments/<code>/refresh")
@require_api_token
def refresh_segment(code: str) -> ResponseReturnValue:
    """Recompute a segment's members now (and of the segments that depend on it)."""
    return jsonify(segment_admin.refresh(current_deps(), code))


@bp.get("/segments/<code>/members")
@require_api_token
def segment_members(code: str) -> ResponseReturnValue:
    limit = query_int("limit", 100, maximum=1000) or 100
    return jsonify(segment_admin.members(current_deps(), code, limit=limit))


_PERSON = [
    {"name": "external_id", "in": "query", "schema": {"type": "string"}},
    {"name": "email", "in": "query", "schema": {"type": "string"}},
]
_ERR = {"$ref": "#/components/schemas/Error"}
_PROFILE_INPUT = {
    "type": "object",
    "required": ["identifiers"],
    "properties": {
        "identifiers": {
            "type": "object",
            "properties": {"external_id": {"type": "string"}, "email": {"type": "string"}},
            "additionalProperties": {"type": "string"},
        },
        "properties": {"type": "object", "description": "null removes a property"},
    },
}
_PROFILE = {
    "type": "object",
    "required": ["identifiers", "properties", "segments", "interactions", "permissions"],
    "properties": {
        "id": {"type": "string"},
        "identifiers": {"type": "object"},
        "properties": {"type": "object"},
        "segments": {"type": "array", "items": {"type": "string"}},
        "interactions": {"type": "array", "items": {"type": "string"}},
        "permissions": {
            "type": "array",
            "items": {"type": "string"},
            "description": '"<subscription>.<channel>" the person is subscribed to',
        },
        "version": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _json(_ERR, "error") for c in codes}


openapi_fragments.register(
    {
        "paths": {
            "/api/admin/v1/profiles": {
                "get": {
                    "summary": "Profiles by external_id or email",
                    "operationId": "getProfiles",
                    "security": [{"adminToken": []}],
                    "parameters": _PERSON,
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["profiles"],
                                "properties": {
                                    "profiles": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Profile"},
                                    }
                                },
                            }
                        ),
                        **_errors(400, 401),
                    },
                }
            },
            "/api/admin/v1/profiles:batch": {
                "post": {
                    "summary": "Ingest up to 1,000 profiles (body up to 5 MB)",
                    "operationId": "ingestProfiles",
                    "security": [{"adminToken": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["profiles"],
                                    "properties": {
                                        "profiles": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": MAX_BATCH,
                                            "items": {"$ref": "#/components/schemas/ProfileInput"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json({"type": "object", "required": ["counts", "results"]}),
                        **_errors(400, 401, 413),
                    },
                }
            },
            "/api/admin/v1/segments/{code}/refresh": {
                "post": {
                    "summary": "Recompute a segment's members",
                    "operationId": "refreshSegment",
                    "security": [{"adminToken": []}],
                    "parameters": [
                        {
                            "name": "code",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": _json({"type": "object"}), **_errors(401, 404)},
                }
            },
            "/api/admin/v1/segments/{code}/members": {
                "get": {
                    "summary": "A segment's member count and first members",
                    "operationId": "segmentMembers",
                    "security": [{"adminToken": []}],
                    "parameters": [
                        {
                            "name": "code",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 404)},
                }
            },
        },
        "schemas": {"Profile": _PROFILE, "ProfileInput": _PROFILE_INPUT},
    }
)
