"""The OpenAPI 3 document of every HTTP API, merged from the fragments each API module owns."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

import backend
from backend.web import openapi_fragments

bp = Blueprint("openapi", __name__)

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}


def build_document() -> dict[str, Any]:
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Optline API",
            "version": backend.__version__,
            "description": "Admin API (bearer tokens) and public widget API (visitor tokens).",
        },
        "paths": {},
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer"},
                "visitorToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }
    for fragment in openapi_fragments.all_fragments():
        doc["paths"].update(fragment.get("paths", {}))
        doc["components"]["schemas"].update(fragment.get("schemas", {}))
    return doc


@bp.get("/api/openapi.json")
def openapi_json() -> ResponseReturnValue:
    """Served to people and tools (schemathesis) alike."""
    return jsonify(build_document())
