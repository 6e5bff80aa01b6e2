"""Admin API views: parse the request, call the configuration service, return its dict."""

from __future__ import annotations

import json
from typing import Any

from flask import g, request, url_for
from flask.typing import ResponseReturnValue

from backend.domain import config_sections  # noqa: F401  (every section registered first)
from backend.domain.config_registry import sections
from backend.domain.config_schema import describe
from backend.domain.errors import FieldError, ValidationError
from backend.services import configuration
from backend.web import current_deps
from backend.web.admin_api import bp, schemas  # noqa: F401  (schemas registers the OpenAPI fragment)
from backend.web.security import require_api_token

# Only the configured kinds match, so /audit, /config and later resources never collide.
KIND = "<any(" + ", ".join(s.name for s in sections()) + "):kind>"
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes"), ("false", "0", "no", "")
MAX_PAGE = 500


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    if not request.is_json:
        raise ValidationError("send a JSON object with Content-Type: application/json")
    raw = request.get_data()
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"malformed JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except (ValueError, RecursionError) as exc:  # bad UTF-8, NaN, absurd nesting
        raise ValidationError(f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValidationError(f"expected a JSON object, got {describe(body)}")
    return body


def query_flag(name: str) -> bool:
    word = request.args.get(name, "").strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValidationError(FieldError(name, "expected true or false"))


def query_int(name: str, default: int | None, *, maximum: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(FieldError(name, "expected a whole number")) from None
    if not 1 <= value <= maximum:
        raise ValidationError(FieldError(name, f"must be between 1 and {maximum}"))
    return value


def _page_limit() -> int:
    limit = query_int("limit", 50, maximum=MAX_PAGE)
    assert limit is not None
    return limit


@bp.get("/whoami")
@require_api_token
def whoami() -> dict[str, Any]:
    """Lets a script check its token."""
    return {"actor": g.api_actor}


@bp.get(f"/{KIND}")
@require_api_token
def list_objects(kind: str) -> dict[str, Any]:
    return {kind: configuration.list_objects(current_deps(), kind)}


@bp.post(f"/{KIND}")
@require_api_token
def create_object(kind: str) -> ResponseReturnValue:
    created = configuration.create_object(current_deps(), kind, json_object(), actor=g.api_actor)
    location = url_for("admin_api.get_object", kind=kind, code=created["code"])
    return {"result": "created", "object": created}, 201, {"Location": location}


@bp.get(f"/{KIND}/<code>")
@require_api_token
def get_object(kind: str, code: str) -> dict[str, Any]:
    return configuration.get_object(current_deps(), kind, code)


@bp.put(f"/{KIND}/<code>")
@require_api_token
def put_object(kind: str, code: str) -> ResponseReturnValue:
    result, stored = configuration.put_object(
        current_deps(), kind, json_object(), actor=g.api_actor, code=code
    )
    return {"result": result, "object": stored}, 201 if result == "created" else 200


@bp.delete(f"/{KIND}/<code>")
@require_api_token
def delete_object(kind: str, code: str) -> ResponseReturnValue:
    configuration.delete_object(current_deps(), kind, code, actor=g.api_actor)
    return "", 204


@bp.get("/config")
@require_api_token
def export_config() -> dict[str, Any]:
    return configuration.export_configuration(current_deps())


@bp.post("/config")
@require_api_token
def apply_config() -> dict[str, Any]:
    """No ``${VAR}`` interpolation here: the server's environment must never leak into objects."""
    dry_run, prune = query_flag("dry_run"), query_flag("prune")
    report = configuration.apply_configuration(
        current_deps(), json_object(), dry_run=dry_run, prune=prune, actor=g.api_actor
    )
    return report.as_dict()


@bp.post("/braze_connections/<code>/test")
@require_api_token
def test_connection(code: str) -> dict[str, Any]:
    return {"code": code, "checks": configuration.test_braze_connection(current_deps(), code)}


@bp.get("/braze_connections/<code>/sandbox-requests")
@require_api_token
def sandbox_requests(code: str) -> dict[str, Any]:
    limit = _page_limit()
    before_id = query_int("before_id", None, maximum=2**62)
    rows = configuration.list_sandbox_requests(
        current_deps(), code, limit=limit, before_id=before_id
    )
    return {"requests": rows, "next_before_id": rows[-1]["id"] if len(rows) == limit else None}


@bp.get("/audit")
@require_api_token
def audit() -> dict[str, Any]:
    limit = _page_limit()
    before_id = query_int("before_id", None, maximum=2**62)
    rows = configuration.list_audit_entries(current_deps(), limit=limit, before_id=before_id)
    return {"entries": rows, "next_before_id": rows[-1]["id"] if len(rows) == limit else None}
