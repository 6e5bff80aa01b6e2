"""Admin API: sync runs (PRODUCT 1.5), run now, cancel, error reports, sync status."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from backend.domain.errors import FieldError, NotFoundError, ValidationError
from backend.services import sync_runs, sync_schedules
from backend.services.sync_run_views import COUNT_KEYS, error_report_csv
from backend.web import current_deps, openapi_fragments
from backend.web.admin_api import bp
from backend.web.admin_api.views import json_object, query_int
from backend.web.security import require_api_token

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
MAX_PAGE = 200
MAX_RUN_ID = 2**62  # larger path ints overflow the database's integer: no such run


def _run_id(run_id: int) -> int:
    if run_id > MAX_RUN_ID:
        raise NotFoundError(f"run {run_id} does not exist")
    return run_id


@bp.get("/runs")
@require_api_token
def list_runs() -> ResponseReturnValue:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ValidationError(FieldError("status", f"one of {', '.join(STATUSES)}"))
    limit = query_int("limit", 50, maximum=MAX_PAGE) or 50
    runs = sync_runs.list_runs(
        current_deps(),
        connection=request.args.get("connection") or None,
        goal=request.args.get("goal") or None,
        status=status,
        limit=limit,
        before_id=query_int("before_id", None, maximum=2**62),
    )
    next_before = runs[-1]["id"] if len(runs) == limit else None
    return jsonify({"runs": runs, "next_before_id": next_before})


@bp.get("/runs/<int:run_id>")
@require_api_token
def get_run(run_id: int) -> ResponseReturnValue:
    return jsonify(sync_runs.get_run(current_deps(), _run_id(run_id)))


@bp.get("/runs/<int:run_id>/errors.csv")
@require_api_token
def run_errors_csv(run_id: int) -> ResponseReturnValue:
    chunks = error_report_csv(current_deps(), _run_id(run_id))
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="run-{run_id}-errors.csv"'},
    )


@bp.post("/runs/<int:run_id>/cancel")
@require_api_token
def cancel_run(run_id: int) -> ResponseReturnValue:
    return jsonify(sync_runs.cancel_run(current_deps(), _run_id(run_id)))


@bp.post("/sync_connections/<code>/run")
@require_api_token
def run_now(code: str) -> ResponseReturnValue:
    """Queue runs of every goal (imports first) or of one goal; 409 if a goal is busy."""
    body = json_object() if request.get_data() else {}
    unknown = sorted(set(body) - {"goal", "dry_run"})
    if unknown:
        raise ValidationError(FieldError(unknown[0], "unknown key; expected goal, dry_run"))
    goal, dry_run = body.get("goal"), body.get("dry_run", False)
    if goal is not None and not isinstance(goal, str):
        raise ValidationError(FieldError("goal", "must be a goal code"))
    if not isinstance(dry_run, bool):
        raise ValidationError(FieldError("dry_run", "must be true or false"))
    runs = sync_runs.request_runs(current_deps(), code, goal=goal, dry_run=dry_run, trigger="api")
    return jsonify({"runs": runs}), 202


@bp.get("/sync_status")
@require_api_token
def sync_status() -> ResponseReturnValue:
    return jsonify({"connections": sync_schedules.sync_status(current_deps())})


_ERR = {"$ref": "#/components/schemas/Error"}
_RUN: dict[str, Any] = {
    "type": "object",
    "required": ["id", "goal", "status", "counts"],
    "properties": {
        "id": {"type": "integer"},
        "connection": {"type": "string"},
        "goal": {"type": "string"},
        "kind": {"type": "string", "enum": ["import", "export"]},
        "status": {"type": "string", "enum": list(STATUSES)},
        "trigger": {"type": "string"},
        "dry_run": {"type": "boolean"},
        "counts": {
            "type": "object",
            "required": list(COUNT_KEYS),
            "properties": {k: {"type": "integer"} for k in COUNT_KEYS},
        },
        "progress": {"type": "object"},
        "error": {"type": "string", "nullable": True},
        "errors": {"type": "integer", "description": "per-row errors in errors.csv"},
        "errors_url": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": "string", "format": "date-time", "nullable": True},
        "finished_at": {"type": "string", "format": "date-time", "nullable": True},
        "heartbeat_at": {"type": "string", "format": "date-time", "nullable": True},
        "duration_seconds": {"type": "number", "nullable": True},
        "preview": {"type": "object", "description": "dry runs: sample diffs, requests"},
    },
}
_RUNS = {
    "type": "object",
    "required": ["runs"],
    "properties": {"runs": {"type": "array", "items": {"$ref": "#/components/schemas/SyncRun"}}},
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(op_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    errors = {str(c): _json(_ERR, "error") for c in (400, 401, 404, 409)}
    return {
        "operationId": op_id,
        "summary": summary,
        "security": [{"adminToken": []}],
        "responses": {**responses, **errors},
        **extra,
    }


_RUN_ID = [{"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
openapi_fragments.register(
    {
        "paths": {
            "/api/admin/v1/runs": {
                "get": _op(
                    "listRuns",
                    "Sync runs, newest first",
                    {"200": _json(_RUNS)},
                    parameters=[
                        {"name": n, "in": "query", "schema": {"type": t}}
                        for n, t in (
                            ("connection", "string"),
                            ("goal", "string"),
                            ("status", "string"),
                            ("limit", "integer"),
                            ("before_id", "integer"),
                        )
                    ],
                )
            },
            "/api/admin/v1/runs/{run_id}": {
                "get": _op(
                    "getRun",
                    "One sync run",
                    {"200": _json({"$ref": "#/components/schemas/SyncRun"})},
                    parameters=_RUN_ID,
                )
            },
            "/api/admin/v1/runs/{run_id}/errors.csv": {
                "get": _op(
                    "getRunErrors",
                    "The run's per-row errors as CSV",
                    {
                        "200": {
                            "description": "CSV",
                            "content": {"text/csv": {"schema": {"type": "string"}}},
                        }
                    },
                    parameters=_RUN_ID,
                )
            },
            "/api/admin/v1/runs/{run_id}/cancel": {
                "post": _op(
                    "cancelRun",
                    "Cancel a queued or running run",
                    {"200": _json({"$ref": "#/components/schemas/SyncRun"})},
                    parameters=_RUN_ID,
                )
            },
            "/api/admin/v1/sync_connections/{code}/run": {
                "post": _op(
                    "runSyncConnection",
                    "Queue runs now (all goals, or one)",
                    {"202": _json(_RUNS)},
                    parameters=[
                        {
                            "name": "code",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    requestBody={
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "goal": {"type": "string"},
                                        "dry_run": {"type": "boolean"},
                                    },
                                }
                            }
                        },
                    },
                )
            },
            "/api/admin/v1/sync_status": {
                "get": _op(
                    "syncStatus",
                    "Connections, goals, next and last runs",
                    {"200": _json({"type": "object"})},
                )
            },
        },
        "schemas": {"SyncRun": _RUN},
    }
)
