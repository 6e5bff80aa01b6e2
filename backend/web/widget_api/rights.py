"""Visitor rights requests: ask for your data or its erasure, and follow the request.

Authenticated exactly as the preference endpoints (a site-signed identity token or an email-code
session token); limited per visitor (a few an hour) and per IP. A visitor only ever sees their
own requests: anyone else's id answers 404, like an unknown one.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from backend.domain.errors import FieldError, ValidationError
from backend.domain.identity import VisitorIdentity
from backend.domain.preferences import property_code as parse_property
from backend.domain.rights import parse_visitor_request
from backend.services import rights
from backend.services.widget_identity import bearer_token
from backend.web import current_deps, openapi_fragments
from backend.web.security import limiter
from backend.web.widget_api import bp
from backend.web.widget_api import limits as lim

RIGHTS_PER_VISITOR = "5/hour"
RIGHTS_PER_IP = "30/hour"


def _body(path_property: str | None) -> dict[str, Any]:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ValidationError("body: must be a JSON object")
    if path_property is not None and body.setdefault("property", path_property) != path_property:
        raise ValidationError(FieldError("property", "differs from the property in the path"))
    return body


def _visitor_key(identity: VisitorIdentity) -> str:
    who = f"{identity.property_code}\0{identity.external_id or ''}\0{identity.email or ''}"
    return "rights-" + hashlib.sha256(who.encode()).hexdigest()[:24]


@bp.post("/rights-requests")
@bp.post("/<property_code>/rights-requests")
@limiter.limit(lim.WIDGET_PER_IP, key_func=lim.ip_key)
def create_rights_request(property_code: str | None = None) -> ResponseReturnValue:
    """``{"property", "type", "confirm"}`` → 202 ``{"id", "status"}``."""
    body = _body(property_code)
    req = parse_visitor_request(body)
    deps = current_deps()
    token = bearer_token(request.headers.get("Authorization"), body)
    identity = rights.visitor_identity(deps, req.property, token)
    limited = lim.check(
        (RIGHTS_PER_IP, "rights-" + lim.ip_key()), (RIGHTS_PER_VISITOR, _visitor_key(identity))
    )
    if limited is not None:
        return limited
    return jsonify(rights.create_visitor_request(deps, identity, req)), 202


@bp.get("/rights-requests/<public_id>")
@bp.get("/<property_code>/rights-requests/<public_id>")
@limiter.limit(lim.WIDGET_PER_IP, key_func=lim.ip_key)
@limiter.limit(lim.WIDGET_PER_TOKEN, key_func=lim.token_key)
def get_rights_request(public_id: str, property_code: str | None = None) -> ResponseReturnValue:
    """The visitor's own request: status, and ``download_url`` once an access request is done."""
    code = parse_property({"property": property_code or request.args.get("property")})
    deps = current_deps()
    token = bearer_token(request.headers.get("Authorization"))
    identity = rights.visitor_identity(deps, code, token)
    return jsonify(rights.visitor_status(deps, identity, public_id))


ERROR = {"$ref": "#/components/schemas/Error"}
JSON = "application/json"
PROPERTY = {"name": "property", "in": "path", "required": True, "schema": {"type": "string"}}
PUBLIC_ID = {"name": "public_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "bad input (an erasure needs confirm: true)",
        401: "missing or invalid token",
        403: "origin not allowed",
        404: "unknown property or request",
        429: "too many requests (Retry-After)",
    }
    return {str(c): {"description": words[c], "content": {JSON: {"schema": ERROR}}} for c in codes}


_CREATE = {
    "tags": ["widget"],
    "summary": "Ask for your data (access) or its erasure; erasure needs confirm: true",
    "security": [{"visitorToken": []}],
    "requestBody": {
        "required": True,
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/VisitorRightsRequest"}}},
    },
    "responses": {
        "202": {
            "description": "accepted",
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/RightsRequestCreated"}}},
        },
        **_errors(400, 401, 403, 404, 429),
    },
}
_READ = {
    "tags": ["widget"],
    "summary": "Your rights request: status, and download_url once an access request is done",
    "security": [{"visitorToken": []}],
    "responses": {
        "200": {
            "description": "success",
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/RightsRequestStatus"}}},
        },
        **_errors(400, 401, 403, 404, 429),
    },
}
openapi_fragments.register(
    {
        "paths": {
            "/api/public/v1/rights-requests": {"post": _CREATE},
            "/api/public/v1/{property}/rights-requests": {
                "post": {**_CREATE, "parameters": [PROPERTY]}
            },
            "/api/public/v1/rights-requests/{public_id}": {
                "get": {
                    **_READ,
                    "parameters": [
                        PUBLIC_ID,
                        {
                            "name": "property",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                }
            },
            "/api/public/v1/{property}/rights-requests/{public_id}": {
                "get": {**_READ, "parameters": [PROPERTY, PUBLIC_ID]}
            },
        },
        "schemas": {
            "VisitorRightsRequest": {
                "type": "object",
                "required": ["property", "type"],
                "properties": {
                    "property": {"type": "string", "minLength": 1, "maxLength": 64},
                    "type": {"type": "string", "enum": ["access", "erasure"]},
                    "confirm": {"type": "boolean", "default": False},
                    "token": {"type": "string", "description": "when no Authorization header"},
                },
            }
        },
    }
)
