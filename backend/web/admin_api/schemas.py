"""The OpenAPI fragment of the admin configuration API, precise enough to validate responses."""

from __future__ import annotations

from typing import Any

from backend.domain import config_sections  # noqa: F401  (every section registered first)
from backend.domain.config_registry import sections
from backend.domain.config_specs import (
    CAPTURE_SOURCES,
    CHANNELS,
    IDENTITIES,
    MAX_TOKEN_TTL,
    MIN_TOKEN_TTL,
    SIGNING_ALGORITHMS,
)
from backend.web import openapi_fragments

PREFIX = "/api/admin/v1"
CODE = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}
TEXT = {"type": "string", "minLength": 1}
TEXTS = {"type": "object", "additionalProperties": {"type": "string"}}
TEXTS_IN = {"oneOf": [{"type": "string", "minLength": 1}, TEXTS]}
ERROR = {"$ref": "#/components/schemas/Error"}
SECURITY: list[dict[str, list[str]]] = [{"adminToken": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:  # OpenAPI 3.0 forbids an empty "required"
        schema["required"] = required
    return schema


S3 = {
    **_object(
        {
            "bucket": TEXT,
            "prefix": {"type": "string"},
            "region": {"type": "string", "nullable": True},
            "endpoint_url": {"type": "string", "nullable": True},
            "access_key_id": {"type": "string", "nullable": True},
            "secret_access_key": {"type": "string", "nullable": True},
        },
        ["bucket"],
    ),
    "nullable": True,
}
CONNECTION_FIELDS: dict[str, Any] = {
    "code": CODE,
    "name": TEXT,
    "rest_endpoint": TEXT,
    "api_key": {**TEXT, "description": "write-only: always <redacted> in responses"},
    "identity": {"type": "string", "enum": list(IDENTITIES)},
    "sandbox": {"type": "boolean"},
    "create_missing_users": {"type": "boolean"},
    "budget_share": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 1},
    "s3": S3,
}
SIGNING_KEY = _object(
    {
        "kid": TEXT,
        "algorithm": {"type": "string", "enum": list(SIGNING_ALGORITHMS)},
        "secret": {**TEXT, "description": "HS256 only; at least 32 characters"},
        "public_key": {**TEXT, "description": "ES256/RS256 only; PEM"},
    },
    ["kid"],
)
PROPERTY_FIELDS: dict[str, Any] = {
    "code": CODE,
    "name": TEXT,
    "allowed_origins": {"type": "array", "items": {"type": "string"}},
    "signing_keys": {"type": "array", "items": SIGNING_KEY},
    "identity_capture": {
        "type": "array",
        "items": _object(
            {"source": {"type": "string", "enum": list(CAPTURE_SOURCES)}, "key": TEXT},
            ["source"],
        ),
    },
    "email_verification": {"type": "boolean"},
    "languages": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]{2}$"}},
    "subscriptions": {"type": "array", "items": CODE, "nullable": True},
    "theme": {"type": "object", "additionalProperties": {"type": "string"}},
    "token_max_ttl": {"type": "integer", "minimum": MIN_TOKEN_TTL, "maximum": MAX_TOKEN_TTL},
}
CHANNEL = _object(
    {
        "channel": {"type": "string", "enum": list(CHANNELS)},
        "connection": CODE,
        "subscription_group_id": {"type": "string", "format": "uuid"},
    },
    ["channel", "connection", "subscription_group_id"],
)


def _subscription_fields(texts: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": CODE,
        "name": texts,
        "description": texts,
        "position": {"type": "integer", "minimum": -10000, "maximum": 10000},
        "channels": {"type": "array", "items": CHANNEL, "minItems": 1},
    }


# API kind → (schema name, stored fields, input fields, required on input besides code).
DETAILED: dict[str, tuple[str, dict[str, Any], dict[str, Any], list[str]]] = {
    "braze_connections": (
        "ConfigBrazeConnection",
        CONNECTION_FIELDS,
        CONNECTION_FIELDS,
        ["name", "rest_endpoint", "api_key"],
    ),
    "subscriptions": (
        "ConfigSubscription",
        _subscription_fields(TEXTS),
        _subscription_fields(TEXTS_IN),
        ["name", "channels"],
    ),
    "properties": ("ConfigProperty", PROPERTY_FIELDS, PROPERTY_FIELDS, ["name"]),
}


def _generic_name(kind: str) -> str:
    return "Config" + "".join(part.title() for part in kind.split("_"))


# Every registered section is served; kinds without a detailed schema get an open one.
KINDS = {s.name: DETAILED.get(s.name) for s in sections()}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {
        400: "invalid input; details.fields lists each problem with its path",
        401: "missing or invalid bearer token",
        404: "no such object",
        409: "conflicts with the stored configuration",
        413: "request body too large",
    }
    return {str(s): _json(ERROR, words[s]) for s in (401, *statuses)}


def _operation(op_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "operationId": op_id,
        "summary": summary,
        "tags": ["admin: configuration"],
        "security": SECURITY,
        "responses": responses,
        **extra,
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


CODE_PARAM = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
PAGE_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
    {"name": "before_id", "in": "query", "schema": {"type": "integer", "minimum": 1}},
]
FLAG_PARAMS = [
    {"name": "dry_run", "in": "query", "schema": {"type": "boolean"}},
    {"name": "prune", "in": "query", "schema": {"type": "boolean"}},
]


def _kind_paths(kind: str, name: str) -> dict[str, Any]:
    camel = "".join(part.title() for part in kind.split("_"))
    result = _object(
        {
            "result": {"type": "string", "enum": ["created", "changed", "unchanged"]},
            "object": _ref(name),
        },
        ["result", "object"],
    )
    return {
        f"{PREFIX}/{kind}": {
            "get": _operation(
                f"list{camel}",
                f"List {kind}",
                {
                    "200": _json(
                        _object({kind: {"type": "array", "items": _ref(name)}}, [kind]), "ok"
                    ),
                    **_errors(),
                },
            ),
            "post": _operation(
                f"create{camel}",
                f"Create one of {kind}",
                {
                    "201": _json(result, "created"),
                    **_errors(400, 409, 413),
                },
                requestBody=_body(_ref(f"{name}Create")),
            ),
        },
        f"{PREFIX}/{kind}/{{code}}": {
            "parameters": [CODE_PARAM],
            "get": _operation(
                f"get{camel}",
                f"One of {kind}",
                {
                    "200": _json(_ref(name), "ok"),
                    **_errors(404),
                },
            ),
            "put": _operation(
                f"put{camel}",
                f"Create or replace one of {kind} (idempotent)",
                {
                    "200": _json(result, "changed or unchanged"),
                    "201": _json(result, "created"),
                    **_errors(400, 409, 413),
                },
                requestBody=_body(_ref(f"{name}Input")),
            ),
            "delete": _operation(
                f"delete{camel}",
                f"Delete one of {kind}",
                {
                    "204": {"description": "deleted"},
                    **_errors(404, 409),
                },
            ),
        },
    }


ENTRY_REF = _object(
    {
        "kind": {"type": "string"},
        "code": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "string"}},
    },
    ["kind", "code"],
)
SCHEMAS: dict[str, Any] = {
    "ConfigApplyReport": _object(
        {
            **{
                a: {"type": "array", "items": ENTRY_REF}
                for a in ("created", "changed", "unchanged", "deleted")
            },
            "dry_run": {"type": "boolean"},
        },
        ["created", "changed", "unchanged", "deleted", "dry_run"],
    ),
    "ConfigDocument": _object(
        {
            k: {"type": "array", "items": _ref(d[0] if d else _generic_name(k))}
            for k, d in KINDS.items()
        },
        list(KINDS),
    ),
    "ConfigDocumentInput": _object(
        {
            k: {
                "type": "array",
                "items": _ref(f"{d[0] if d else _generic_name(k)}Input"),
                "nullable": True,
            }
            for k, d in KINDS.items()
        },
        [],
    ),
    "ConnectionChecks": _object(
        {
            "code": {"type": "string"},
            "checks": {
                "type": "array",
                "items": _object(
                    {
                        "permission": {"type": "string"},
                        "ok": {"type": "boolean"},
                        "message": {"type": "string"},
                    },
                    ["permission", "ok", "message"],
                ),
            },
        },
        ["code", "checks"],
    ),
    "AuditPage": _object(
        {
            "entries": {
                "type": "array",
                "items": _object(
                    {
                        "id": {"type": "integer"},
                        "at": {"type": "string", "format": "date-time"},
                        "actor": {"type": "string"},
                        "action": {"type": "string"},
                        "object_type": {"type": "string"},
                        "object_code": {"type": "string"},
                        "details": {"type": "object"},
                    },
                    ["id", "at", "actor", "action", "object_type", "object_code", "details"],
                ),
            },
            "next_before_id": {"type": "integer", "nullable": True},
        },
        ["entries", "next_before_id"],
    ),
    "SandboxRequestPage": _object(
        {
            "requests": {
                "type": "array",
                "items": _object(
                    {
                        "id": {"type": "integer"},
                        "at": {"type": "string", "format": "date-time"},
                        "method": {"type": "string"},
                        "path": {"type": "string"},
                        "query": {"type": "object", "nullable": True},
                        "body": {"type": "object", "nullable": True},
                    },
                    ["id", "at", "method", "path", "query", "body"],
                ),
            },
            "next_before_id": {"type": "integer", "nullable": True},
        },
        ["requests", "next_before_id"],
    ),
}
PATHS: dict[str, Any] = {}
for _kind, _detail in KINDS.items():
    if _detail is None:
        _name = _generic_name(_kind)
        _open = {
            "type": "object",
            "properties": {"code": CODE},
            "additionalProperties": True,
            "description": f"see docs/configuration.md, section {_kind}",
        }
        SCHEMAS[_name] = {**_open, "required": ["code"]}
        SCHEMAS[f"{_name}Input"] = _open
        SCHEMAS[f"{_name}Create"] = {**_open, "required": ["code"]}
    else:
        _name, _stored, _input, _required = _detail
        SCHEMAS[_name] = _object(_stored, list(_stored))
        SCHEMAS[f"{_name}Input"] = _object(_input, _required)
        SCHEMAS[f"{_name}Create"] = _object(_input, ["code", *_required])
    PATHS.update(_kind_paths(_kind, _name))
PATHS[f"{PREFIX}/config"] = {
    "get": _operation(
        "exportConfig",
        "The whole configuration (secrets redacted)",
        {
            "200": _json(_ref("ConfigDocument"), "ok"),
            **_errors(),
        },
    ),
    "post": _operation(
        "applyConfig",
        "Apply a whole configuration document (no ${VAR} interpolation)",
        {
            "200": _json(_ref("ConfigApplyReport"), "applied, or checked when dry_run"),
            **_errors(400, 409, 413),
        },
        parameters=FLAG_PARAMS,
        requestBody=_body(_ref("ConfigDocumentInput")),
    ),
}
PATHS[f"{PREFIX}/braze_connections/{{code}}/test"] = {
    "parameters": [CODE_PARAM],
    "post": _operation(
        "testBrazeConnection",
        "Probe the API key's permissions",
        {
            "200": _json(_ref("ConnectionChecks"), "one entry per permission"),
            **_errors(404, 409),
        },
    ),
}
PATHS[f"{PREFIX}/braze_connections/{{code}}/sandbox-requests"] = {
    "parameters": [CODE_PARAM],
    "get": _operation(
        "listSandboxRequests",
        "What a sandbox connection would have sent",
        {
            "200": _json(_ref("SandboxRequestPage"), "newest first"),
            **_errors(400, 404),
        },
        parameters=PAGE_PARAMS,
    ),
}
PATHS[f"{PREFIX}/audit"] = {
    "get": _operation(
        "listAuditEntries",
        "The audit log of admin changes",
        {
            "200": _json(_ref("AuditPage"), "newest first"),
            **_errors(400),
        },
        parameters=PAGE_PARAMS,
    ),
}
PATHS[f"{PREFIX}/whoami"] = {
    "get": _operation(
        "whoami",
        "The actor the bearer token stands for",
        {
            "200": _json(_object({"actor": {"type": "string"}}, ["actor"]), "ok"),
            **_errors(),
        },
    ),
}

FRAGMENT = openapi_fragments.register({"paths": PATHS, "schemas": SCHEMAS})
