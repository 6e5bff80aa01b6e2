"""How a run reads in the runs API (PRODUCT 1.5), in ``optline sync run --json`` and in mail,
and its per-row error report as CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import Profile, SyncConnection, SyncRun, SyncRunError
from backend.domain.errors import NotFoundError
from backend.services.deps import Deps

COUNT_KEYS = ("checked", "created", "updated", "unchanged", "skipped", "failed")
CSV_COLUMNS = ("row", "profile", "external_id", "field", "message")
CSV_CHUNK = 1000
# Cells a spreadsheet would run as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def counts_of(raw: dict[str, Any] | None) -> dict[str, int]:
    raw = raw or {}
    return {key: int(raw.get(key) or 0) for key in COUNT_KEYS}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def run_view(run: SyncRun, connection_code: str, errors: int, public_url: str) -> dict[str, Any]:
    duration = None
    if run.started_at is not None and run.finished_at is not None:
        duration = round((run.finished_at - run.started_at).total_seconds(), 3)
    view: dict[str, Any] = {
        "id": run.id,
        "connection": connection_code,
        "goal": run.goal_code,
        "kind": run.goal_kind,
        "status": run.status,
        "trigger": run.trigger,
        "dry_run": run.dry_run,
        "counts": counts_of(run.counts),
        "progress": dict(run.progress or {}),
        "error": run.error,
        "errors": errors,
        "errors_url": f"{public_url}/api/admin/v1/runs/{run.id}/errors.csv",
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "heartbeat_at": _iso(run.heartbeat_at),
        "duration_seconds": duration,
    }
    if run.dry_run:
        view["preview"] = run.preview or {}
    return view


def run_views(session: Session, runs: Sequence[SyncRun], public_url: str) -> list[dict[str, Any]]:
    ids = [r.id for r in runs]
    codes = (
        dict(
            session.execute(
                select(SyncConnection.id, SyncConnection.code).where(
                    SyncConnection.id.in_({r.sync_connection_id for r in runs})
                )
            ).all()
        )
        if runs
        else {}
    )
    errors = (
        dict(
            session.execute(
                select(SyncRunError.run_id, func.count())
                .where(SyncRunError.run_id.in_(ids))
                .group_by(SyncRunError.run_id)
            ).all()
        )
        if runs
        else {}
    )
    return [
        run_view(r, codes.get(r.sync_connection_id, ""), errors.get(r.id, 0), public_url)
        for r in runs
    ]


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def error_report_csv(deps: Deps, run_id: int) -> Iterator[str]:
    """The run's per-row errors, streamed a chunk at a time (the report may be large)."""
    with deps.session() as session:
        if session.get(SyncRun, run_id) is None:
            raise NotFoundError(f"sync run {run_id} does not exist")

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        last_id = 0
        while True:
            with deps.session() as session:
                chunk = session.execute(
                    select(
                        SyncRunError.id,
                        SyncRunError.row_ref,
                        Profile.profile_key,
                        Profile.external_id,
                        SyncRunError.field,
                        SyncRunError.message,
                    )
                    .outerjoin(Profile, Profile.id == SyncRunError.profile_id)
                    .where(SyncRunError.run_id == run_id, SyncRunError.id > last_id)
                    .order_by(SyncRunError.id)
                    .limit(CSV_CHUNK)
                ).all()
            for row in chunk:
                writer.writerow([_cell(v) for v in row[1:]])
            if chunk:
                last_id = chunk[-1][0]
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(chunk) < CSV_CHUNK:
                return

    return rows()
