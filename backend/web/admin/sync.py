"""Sync runs on the settings page: a connection's goals with Run now and Dry run, the runs list,
a run's page with live progress, its per-row error report as CSV, and cancel."""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Any

from flask import (
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf, Length

from backend.domain.errors import ConflictError, ValidationError
from backend.services import admin_reads, configuration, sync_runs
from backend.services.sync_run_views import COUNT_KEYS, error_report_csv
from backend.web import current_deps
from backend.web.admin import bp
from backend.web.admin.views import cursor_page

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")
RUNS_PAGE_SIZE = 50
RECENT_RUNS = 10
TIME_KEYS = ("created_at", "started_at", "finished_at", "heartbeat_at")


class RunNowForm(FlaskForm):
    """One goal (or, empty, every goal) of a connection; ``dry_run`` is the button pressed."""

    goal = HiddenField(validators=[Length(max=64)])
    dry_run = HiddenField(validators=[AnyOf(["0", "1"])])


def is_live(run: dict[str, Any]) -> bool:
    """Still going: queued, running, or cancelled while its engine winds down."""
    return run["status"] in ACTIVE or (run["status"] == "cancelled" and not run["finished_at"])


def _with_times(run: dict[str, Any]) -> dict[str, Any]:
    shown = dict(run)
    for key in TIME_KEYS:
        if isinstance(run.get(key), str):
            shown[key] = datetime.fromisoformat(run[key])
    return shown


@bp.get("/sync-connections/<code>/runs")
def sync_connection_runs(code: str) -> str:
    deps = current_deps()
    status = admin_reads.connection_status(deps, code)
    for goal in status["goals"]:
        if goal["next_run_at"]:
            goal["next_run_at"] = datetime.fromisoformat(goal["next_run_at"])
    recent = sync_runs.list_runs(deps, connection=code, limit=RECENT_RUNS)
    return render_template(
        "admin/sync_connection_runs.html",
        status=status,
        runs=[_with_times(r) for r in recent],
        count_keys=COUNT_KEYS,
    )


@bp.post("/sync-connections/<code>/run")
def sync_run_now(code: str) -> ResponseReturnValue:
    form = RunNowForm()
    back = url_for("admin.sync_connection_runs", code=code)
    if not form.validate_on_submit():
        flash("The run request was not understood; use the Run now and Dry run buttons.", "error")
        return redirect(back)
    dry_run = form.dry_run.data == "1"
    try:
        runs = sync_runs.request_runs(
            current_deps(), code, goal=form.goal.data or None, dry_run=dry_run, trigger="manual"
        )
    except (ConflictError, ValidationError) as exc:
        flash(f"Nothing was started: {exc}.", "error")
        return redirect(back)
    what = "Dry run" if dry_run else "Run"
    names = ", ".join(f"{r['goal']} (run {r['id']})" for r in runs)
    flash(f"{what} queued: {names}.", "success")
    if len(runs) == 1:
        return redirect(url_for("admin.run_page", run_id=runs[0]["id"]))
    return redirect(back)


@bp.get("/runs")
def runs_list() -> str:
    deps = current_deps()
    connections = [c["code"] for c in configuration.list_objects(deps, "sync_connections")]
    connection = request.args.get("connection") or None
    status = request.args.get("status") or None
    connection = connection if connection in connections else None
    status = status if status in RUN_STATUSES else None
    page = cursor_page(
        partial(sync_runs.list_runs, deps, connection=connection, status=status), RUNS_PAGE_SIZE
    )
    filters = {k: v for k, v in (("connection", connection), ("status", status)) if v}
    return render_template(
        "admin/runs.html",
        runs=page,
        items=[_with_times(r) for r in page.items],
        connections=connections,
        statuses=RUN_STATUSES,
        filters=filters,
        count_keys=COUNT_KEYS,
    )


@bp.get("/runs/<int:run_id>")
def run_page(run_id: int) -> str:
    deps = current_deps()
    run = sync_runs.get_run(deps, run_id)
    errors = admin_reads.run_errors(deps, run_id) if run["errors"] else []
    preview = run.get("preview") or {}
    requests = [
        {**r, "body_json": json.dumps(r.get("body"), indent=2, ensure_ascii=False)}
        for r in preview.get("requests") or []
    ]
    return render_template(
        "admin/run.html",
        run=_with_times(run),
        live=is_live(run),
        errors=errors,
        preview=preview,
        preview_requests=requests,
        count_keys=COUNT_KEYS,
    )


@bp.get("/runs/<int:run_id>.json")
def run_json(run_id: int) -> Response:
    """What the run page polls while the run is live."""
    run = sync_runs.get_run(current_deps(), run_id)
    response = jsonify({**run, "live": is_live(run)})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/runs/<int:run_id>/errors.csv")
def run_errors_csv(run_id: int) -> Response:
    """The admin API's per-row error report, for a signed-in admin."""
    chunks = error_report_csv(current_deps(), run_id)
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="run-{run_id}-errors.csv"'},
    )


@bp.post("/runs/<int:run_id>/cancel")
def run_cancel(run_id: int) -> ResponseReturnValue:
    try:
        sync_runs.cancel_run(current_deps(), run_id)
    except ConflictError as exc:
        flash(f"Not cancelled: {exc}.", "error")
    else:
        flash(f"Run {run_id} cancelled.", "success")
    return redirect(url_for("admin.run_page", run_id=run_id))
