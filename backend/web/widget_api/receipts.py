"""Consent receipts for visitors: ``/receipt`` (authenticated like bootstrap) and
``/receipts/verify`` (anyone holding a receipt may check it)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask.typing import ResponseReturnValue

from backend.domain.errors import FieldError, ValidationError
from backend.domain.preferences import property_code as parse_property
from backend.services import receipts
from backend.services.widget_identity import request_token
from backend.web import current_deps, openapi_fragments
from backend.web.security import limiter
from backend.web.widget_api import bp
from backend.web.widget_api import limits as lim

VERIFY_PER_IP = "30/minute"
MAX_LANGUAGE = 16


def _language(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_LANGUAGE:
        raise ValidationError(FieldError("language", "must be a language code such as 'en'"))
    return value


@bp.route("/receipt", methods=["GET", "POST"])
@bp.route("/<property_code>/receipt", methods=["GET", "POST"])
@limiter.limit(lim.WIDGET_PER_IP, key_func=lim.ip_key)
@limiter.limit(lim.WIDGET_PER_TOKEN, key_func=lim.token_key)
def receipt(property_code: str | None = None) -> ResponseReturnValue:
    """The visitor's consent receipt: GET with ``Authorization: Bearer`` (apps, servers), or
    POST ``{"property", "language"?, "token"?}`` (the widget: a simple request, no preflight)."""
    if request.method == "GET":
        body: dict[str, Any] = dict(request.args)
    else:
        raw = request.get_json(force=True, silent=True)
        if not isinstance(raw, dict):
            raise ValidationError("body: must be a JSON object")
        body = raw
    if property_code is not None and body.setdefault("property", property_code) != property_code:
        raise ValidationError(FieldError("property", "differs from the property in the path"))
    code = parse_property(body)
    # A GET carries its token in the header only: never in a URL, where logs would keep it.
    token = request_token(
        request.headers.get("Authorization"), body if request.method == "POST" else None
    )
    language = _language(body.get("language"))
    document = receipts.visitor_receipt(current_deps(), token, code, language)
    response = jsonify(document)
    response.headers["Cache-Control"] = "no-store"
    name = f"optline-receipt-{document['consentReceiptID']}.json"
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    return response


@bp.post("/receipts/verify")
@limiter.limit(VERIFY_PER_IP, key_func=lim.ip_key)
def verify_receipt() -> Response:
    """Any origin may ask (no credentials are involved): the answer says only valid or not."""
    result = receipts.verify_receipt(current_deps(), request.get_json(force=True, silent=True))
    response = jsonify(result)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


_PROPERTY = {"name": "property", "in": "path", "required": True, "schema": {"type": "string"}}
_JSON = "application/json"
_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "bad input",
        401: "missing or invalid token",
        403: "origin not allowed",
        404: "unknown property, or nothing recorded yet",
        429: "too many requests",
    }
    content = {_JSON: {"schema": _ERROR}}
    return {str(c): {"description": words[c], "content": content} for c in codes}


def _schema(name: str) -> dict[str, Any]:
    return {_JSON: {"schema": {"$ref": f"#/components/schemas/{name}"}}}


_RECEIPT_OK = {
    "200": {
        "description": "a signed Kantara Consent Receipt v1.1 (ISO/IEC TS 27560) document",
        "content": _schema("ConsentReceipt"),
    },
    **_errors(400, 401, 403, 404, 429),
}
_RECEIPT_GET = {
    "tags": ["widget"],
    "summary": "The visitor's consent receipt (Authorization: Bearer)",
    "security": [{"visitorToken": []}],
    "responses": _RECEIPT_OK,
}
_RECEIPT_POST = {
    **_RECEIPT_GET,
    "summary": "The visitor's consent receipt (token in the header or the body)",
    "requestBody": {
        "required": True,
        "content": _schema("ReceiptRequest"),
    },
}
openapi_fragments.register(
    {
        "paths": {
            "/api/public/v1/{property}/receipt": {
                "get": {**_RECEIPT_GET, "parameters": [_PROPERTY]},
                "post": {**_RECEIPT_POST, "parameters": [_PROPERTY]},
            },
            "/api/public/v1/receipts/verify": {
                "post": {
                    "tags": ["widget"],
                    "summary": "Check a receipt's signature and the ledger entries behind it",
                    "security": [],
                    "requestBody": {
                        "required": True,
                        "content": _schema("ConsentReceipt"),
                    },
                    "responses": {
                        "200": {
                            "description": "valid is true only when both checks hold",
                            "content": _schema("ReceiptCheck"),
                        },
                        **_errors(400, 429),
                    },
                }
            },
        },
        "schemas": {
            "ReceiptRequest": {
                "type": "object",
                "required": ["property"],
                "properties": {
                    "property": {"type": "string", "maxLength": 64},
                    "language": {"type": "string", "maxLength": 16},
                    "token": {"type": "string", "description": "when no Authorization header"},
                },
            },
            "ConsentReceipt": {
                "type": "object",
                "required": ["version", "consentTimestamp", "consentReceiptID", "piiPrincipalId",
                             "piiControllers", "services", "signature"],
                "properties": {
                    "version": {"type": "string", "example": "KI-CR-v1.1.0"},
                    "consentTimestamp": {"type": "integer"},
                    "collectionMethod": {"type": "string"},
                    "consentReceiptID": {"type": "string", "format": "uuid"},
                    "piiPrincipalId": {"type": "string", "description": "pseudonymous subject key"},
                    "piiControllers": {"type": "array", "items": {"type": "object"}},
                    "services": {"type": "array", "items": {"type": "object"}},
                    "signature": {"type": "object"},
                },
            },
            "ReceiptCheck": {
                "type": "object",
                "properties": {
                    "valid": {"type": "boolean"},
                    "signature": {"type": "boolean"},
                    "ledger": {"type": "boolean"},
                    "consentReceiptID": {"type": "string", "nullable": True},
                },
            },
        },
    }
)  # fmt: skip
