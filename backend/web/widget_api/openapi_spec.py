"""The widget API's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from backend.domain.preferences import MAX_CHANGES, STATES
from backend.web import openapi_fragments

ERROR = {"$ref": "#/components/schemas/Error"}
CODE = {"type": "string", "minLength": 1, "maxLength": 64}
LANGUAGE = {"type": "string", "maxLength": 16, "example": "es"}
# Browsers send the visitor token here, with Content-Type text/plain, so that a call is a CORS
# "simple request" (no preflight); an Authorization: Bearer header, when present, wins.
TOKEN = {
    "type": "string",
    "maxLength": 4096,
    "description": "the visitor token, when no Authorization header is sent",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "bad input",
        401: "missing or invalid token",
        403: "origin not allowed, or feature off",
        404: "unknown property",
        413: "body too large",
        429: "too many requests (Retry-After)",
    }
    return {str(c): _json(ERROR, words[c]) for c in codes}


def _operation(
    summary: str, request: str, response: str, status: int, errors: tuple[int, ...], auth: bool
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "tags": ["widget"],
        "summary": summary,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _ref(request)},
                # The same JSON, sent by browsers as a CORS simple request (no preflight).
                "text/plain": {"schema": _ref(request)},
            },
        },
        "responses": {str(status): _json(_ref(response), "success"), **_errors(*errors)},
        "security": [{"visitorToken": []}] if auth else [],
    }
    return op


OPERATIONS = {
    "bootstrap": _operation(
        "Texts, topics × channels and the visitor's current state (one call renders the center)",
        "BootstrapRequest", "Bootstrap", 200, (400, 401, 403, 404, 413, 429), True,
    ),
    "preferences": _operation(
        "Save the visitor's choices; answers the new state with each choice's sync_status",
        "SaveRequest", "SaveResult", 200, (400, 401, 403, 404, 413, 429), True,
    ),
    "email-codes": _operation(
        "Mail a 6-digit code proving an email (where the property allows it); always 202",
        "EmailCodeRequest", "EmailCodeSent", 202, (400, 403, 404, 429), False,
    ),
    "email-codes/verify": _operation(
        "Exchange a right code for a 15-minute widget session token (a Bearer token)",
        "VerifyRequest", "SessionGrant", 200, (400, 403, 404, 429), False,
    ),
}  # fmt: skip

PATHS: dict[str, Any] = {}
for name, operation in OPERATIONS.items():
    PATHS[f"/api/public/v1/{name}"] = {"post": operation}
    PATHS[f"/api/public/v1/{{property}}/{name}"] = {
        "post": {
            **operation,
            "parameters": [
                {"name": "property", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
        }
    }

CHANNEL = {
    "type": "object",
    "required": ["channel", "label", "state", "sync_status"],
    "properties": {
        "channel": {"type": "string", "example": "email"},
        "label": {"type": "string"},
        "state": {"type": "string", "enum": list(STATES)},
        "sync_status": {
            "type": "string",
            "enum": ["pending", "synced", "failed"],
            "nullable": True,
        },
    },
}
TOPIC = {
    "type": "object",
    "required": ["code", "name", "description", "channels"],
    "properties": {
        "code": {"type": "string"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "channels": {"type": "array", "items": _ref("WidgetChannel")},
    },
}
SCHEMAS: dict[str, Any] = {
    "WidgetChannel": CHANNEL,
    "WidgetTopic": TOPIC,
    "BootstrapRequest": {
        "type": "object",
        "required": ["property"],
        "properties": {"property": CODE, "language": LANGUAGE, "token": TOKEN},
    },
    "Bootstrap": {
        "type": "object",
        "required": ["property", "language", "languages", "texts", "topics", "unsubscribed_all"],
        "properties": {
            "property": {"type": "string"},
            "language": {"type": "string"},
            "languages": {"type": "array", "items": {"type": "string"}},
            "texts": {"type": "object", "additionalProperties": {"type": "string"}},
            "topics": {"type": "array", "items": _ref("WidgetTopic")},
            "unsubscribed_all": {"type": "boolean"},
            "visitor": {
                "type": "object",
                "properties": {
                    "email_masked": {"type": "string", "nullable": True},
                    "can_request_data": {"type": "boolean"},
                },
            },
            "features": {
                "type": "object",
                "properties": {"email_verification": {"type": "boolean"}},
            },
        },
    },
    "SaveRequest": {
        "type": "object",
        "required": ["property"],
        "properties": {
            "property": CODE,
            "changes": {
                "type": "array",
                "maxItems": MAX_CHANGES,
                "items": {
                    "type": "object",
                    "required": ["subscription", "channel", "state"],
                    "properties": {
                        "subscription": CODE,
                        "channel": CODE,
                        "state": {"type": "string", "enum": list(STATES)},
                    },
                },
            },
            "unsubscribe_all": {"type": "boolean", "default": False},
            "language": LANGUAGE,
            "token": TOKEN,
        },
    },
    "SaveResult": {
        "type": "object",
        "required": ["topics", "unsubscribed_all", "saved"],
        "properties": {
            "topics": {"type": "array", "items": _ref("WidgetTopic")},
            "unsubscribed_all": {"type": "boolean"},
            "saved": {"type": "integer", "description": "choices that changed"},
        },
    },
    "EmailCodeRequest": {
        "type": "object",
        "required": ["property", "email"],
        "properties": {"property": CODE, "email": {"type": "string"}, "language": LANGUAGE},
    },
    "EmailCodeSent": {
        "type": "object",
        "properties": {"sent": {"type": "boolean"}, "resend_after": {"type": "integer"}},
    },
    "VerifyRequest": {
        "type": "object",
        "required": ["property", "email", "code"],
        "properties": {
            "property": CODE,
            "email": {"type": "string"},
            "code": {"type": "string", "pattern": "^[0-9]{6}$"},
        },
    },
    "SessionGrant": {
        "type": "object",
        "properties": {"session_token": {"type": "string"}, "expires_in": {"type": "integer"}},
    },
}

openapi_fragments.register({"paths": PATHS, "schemas": SCHEMAS})
