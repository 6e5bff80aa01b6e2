"""Sync runs: creation (one active run per goal, enforced by the database), the status
transitions around an engine, cancellation, stale-run takeover, and the runs API's reads.

Status: queued → running → succeeded | failed | cancelled. A cancelled run keeps its goal
(``finished_at`` null) until the engine stops at its next check, so no second run of the same
goal can start while the first is still winding down. Engines own counts, checkpoint and
progress (``backend.services.sync_common.save_run``) and call ``raise_if_cancelled``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db.models import ExportGoal, ImportGoal, SyncConnection, SyncRun
from backend.domain.errors import ConflictError, NotFoundError, OptlineError, ValidationError
from backend.services.deps import Deps
from backend.services.segments import rowcount
from backend.services.sync_run_views import run_views

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=10)  # a running run without a heartbeat this long is resumable
REQUEUE_AFTER = timedelta(minutes=2)  # a queued run whose job got lost is enqueued again
JOB_TIMEOUT = 6 * 3600
TRIGGERS = ("schedule", "manual", "cli", "api")
Engine = Callable[[Deps, int], None]
# Goal kind → engine, as "module:function" resolved when a run starts (tests may register
# callables here or in ``deps.extras["sync_engines"]``).
ENGINES: dict[str, str | Engine] = {
    "import": "backend.services.sync_import:run_import",
    "export": "backend.services.sync_export:run_export",
}


class RunCancelledError(OptlineError):
    """The run was cancelled; the engine stops and its open transaction rolls back."""


@dataclass(frozen=True)
class GoalRef:
    kind: str  # import | export
    id: int
    code: str
    connection_id: int
    connection_code: str


def job_id_for(run_id: int) -> str:
    return f"sync-run-{run_id}"


def connection_by_code(session: Session, code: str) -> SyncConnection:
    row = session.scalars(select(SyncConnection).where(SyncConnection.code == code)).first()
    if row is None:
        raise NotFoundError(f"sync connection {code!r} does not exist")
    return row


def goals_of(
    session: Session, connection: SyncConnection, goal: str | None = None
) -> list[GoalRef]:
    """The connection's goals, imports first (so exports send fresh data), in file order."""
    refs = [
        GoalRef("import", g.id, g.code, connection.id, connection.code)
        for g in session.scalars(
            select(ImportGoal)
            .where(ImportGoal.sync_connection_id == connection.id)
            .order_by(ImportGoal.position)
        )
    ] + [
        GoalRef("export", g.id, g.code, connection.id, connection.code)
        for g in session.scalars(
            select(ExportGoal)
            .where(ExportGoal.sync_connection_id == connection.id)
            .order_by(ExportGoal.position)
        )
    ]
    if goal is None:
        return refs
    chosen = [r for r in refs if r.code == goal]
    if not chosen:
        known = ", ".join(r.code for r in refs) or "none"
        raise NotFoundError(
            f"sync connection {connection.code!r} has no goal {goal!r} (goals: {known})"
        )
    return chosen


def active_run(session: Session, kind: str, goal_id: int) -> SyncRun | None:
    return session.scalars(
        select(SyncRun).where(
            SyncRun.goal_kind == kind,
            SyncRun.goal_id == goal_id,
            or_(
                SyncRun.status.in_(("queued", "running")),
                (SyncRun.status == "cancelled") & SyncRun.finished_at.is_(None),
            ),
        )
    ).first()


def create_run(
    session: Session, goal: GoalRef, *, dry_run: bool, trigger: str, now: datetime
) -> SyncRun:
    """Insert a queued run; ConflictError when the goal already has an active one."""
    if trigger not in TRIGGERS:
        raise ValidationError(f"trigger must be one of {', '.join(TRIGGERS)}")
    run = SyncRun(
        sync_connection_id=goal.connection_id,
        goal_kind=goal.kind,
        goal_id=goal.id,
        goal_code=goal.code,
        status="queued",
        trigger=trigger,
        dry_run=dry_run,
        counts={},
        progress={},
        checkpoint={},
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        other = active_run(session, goal.kind, goal.id)
        which = f"run {other.id} ({other.status})" if other else "another run"
        raise ConflictError(
            f"goal {goal.code!r} of {goal.connection_code!r} already has {which}; "
            "wait for it to finish or cancel it"
        ) from None
    return run


def enqueue_run(deps: Deps, run_id: int) -> None:
    """After commit: hand the run to a worker (a lost enqueue is retried by the sweeper)."""
    if deps.jobs is None:
        return
    from backend.jobs.queue import QUEUE_SYNC

    try:
        deps.jobs.enqueue(
            "backend.jobs.sync.run_goal_job",
            run_id,
            queue=QUEUE_SYNC,
            job_id=job_id_for(run_id),
            timeout=JOB_TIMEOUT,
        )
    except Exception:  # Redis down: the run waits as queued
        log.warning("could not enqueue sync run", extra={"run_id": run_id}, exc_info=True)


def request_runs(
    deps: Deps,
    connection_code: str,
    *,
    goal: str | None = None,
    dry_run: bool = False,
    trigger: str = "api",
    enqueue: bool = True,
) -> list[dict[str, Any]]:
    """Queue a run of one goal or of every goal; all or nothing (409 if any goal is busy)."""
    with deps.session() as session:
        connection = connection_by_code(session, connection_code)
        goals = goals_of(session, connection, goal)
        if not goals:
            raise ValidationError(f"sync connection {connection_code!r} has no goals")
        now = deps.clock()
        runs = [create_run(session, g, dry_run=dry_run, trigger=trigger, now=now) for g in goals]
        session.flush()
        ids = [r.id for r in runs]
    for run_id in ids:
        log.info("sync run queued", extra={"run_id": run_id, "trigger": trigger})
        if enqueue:
            enqueue_run(deps, run_id)
    return [get_run(deps, run_id) for run_id in ids]


# -- transitions --------------------------------------------------------------------------


def start_run(deps: Deps, run_id: int) -> bool:
    """Claim the run for this worker: a queued one, or a running one whose worker went quiet."""
    now = deps.clock()
    with deps.session() as session:
        claimed = rowcount(
            session.execute(
                update(SyncRun)
                .where(SyncRun.id == run_id)
                .where(
                    or_(
                        SyncRun.status == "queued",
                        (SyncRun.status == "running")
                        & or_(
                            SyncRun.heartbeat_at.is_(None), SyncRun.heartbeat_at < now - STALE_AFTER
                        ),
                    )
                )
                .values(status="running", heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
        )
        if claimed:
            run = session.get(SyncRun, run_id)
            assert run is not None
            if run.started_at is None:
                run.started_at = now
            else:
                progress = dict(run.progress or {})
                progress["resumed"] = int(progress.get("resumed", 0)) + 1
                run.progress = progress
    return bool(claimed)


def raise_if_cancelled(session: Session, run_id: int) -> None:
    """Engines call this (inside their transaction) before committing a batch."""
    status = session.scalar(select(SyncRun.status).where(SyncRun.id == run_id))
    if status == "cancelled":
        raise RunCancelledError(f"sync run {run_id} was cancelled")


def heartbeat(deps: Deps, run_id: int) -> None:
    """Mark the run alive; RunCancelledError once it has been cancelled."""
    with deps.session() as session:
        raise_if_cancelled(session, run_id)
        session.execute(
            update(SyncRun).where(SyncRun.id == run_id).values(heartbeat_at=deps.clock())
        )


def finish_run(deps: Deps, run_id: int, status: str, error: str | None = None) -> str:
    """Record the outcome; a run cancelled meanwhile stays cancelled. Returns the final status."""
    now = deps.clock()
    with deps.session() as session:
        run = session.get(SyncRun, run_id)
        if run is None:
            raise NotFoundError(f"sync run {run_id} does not exist")
        if run.status == "running":
            run.status = status
            run.error = error[:2000] if error else None
        if run.finished_at is None:
            run.finished_at = now
        run.heartbeat_at = now
        return run.status


def cancel_run(deps: Deps, run_id: int) -> dict[str, Any]:
    """A queued run ends at once; a running one when its engine next checks."""
    now = deps.clock()
    with deps.session() as session:
        run = session.get(SyncRun, run_id)
        if run is None:
            raise NotFoundError(f"sync run {run_id} does not exist")
        if run.status not in ("queued", "running"):
            raise ConflictError(f"sync run {run_id} is already {run.status}")
        if run.status == "queued":
            run.finished_at = now
        run.status = "cancelled"
    log.info("sync run cancelled", extra={"run_id": run_id})
    return get_run(deps, run_id)


def resolve_engine(deps: Deps, kind: str) -> Engine:
    found = deps.extras.get("sync_engines", {}).get(kind) or ENGINES.get(kind)
    if found is None:
        raise OptlineError(f"no sync engine for {kind} goals")
    if callable(found):
        return found
    module_name, _, name = found.partition(":")
    try:
        engine: Engine = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        raise OptlineError(f"the {kind} engine ({found}) is not installed") from None
    return engine


def execute_run(deps: Deps, run_id: int) -> dict[str, Any] | None:
    """The job body: claim, run the engine, record the outcome, notify. None if not claimed."""
    if not start_run(deps, run_id):
        log.info(
            "sync run not claimed (finished, cancelled or running elsewhere)",
            extra={"run_id": run_id},
        )
        return None
    with deps.session() as session:
        kind = session.scalar(select(SyncRun.goal_kind).where(SyncRun.id == run_id)) or ""
    error: str | None = None
    try:
        resolve_engine(deps, kind)(deps, run_id)
        status = "succeeded"
    except RunCancelledError:
        status = "cancelled"
    except OptlineError as exc:
        status, error = "failed", str(exc) or type(exc).__name__
    except Exception as exc:  # the run must end failed, with a readable reason
        log.exception("sync run crashed", extra={"run_id": run_id})
        status, error = "failed", f"internal error ({type(exc).__name__})"
    final = finish_run(deps, run_id, status, error)
    log.info("sync run finished", extra={"run_id": run_id, "status": final})
    from backend.services.notifications import notify_run_finished

    notify_run_finished(deps, run_id)
    return get_run(deps, run_id)


def sweep_runs(deps: Deps) -> list[int]:
    """Re-enqueue stale running runs and queued runs whose job was lost; end abandoned cancels."""
    now = deps.clock()
    with deps.session() as session:
        stale = list(
            session.scalars(
                select(SyncRun.id).where(
                    SyncRun.status == "running", SyncRun.heartbeat_at < now - STALE_AFTER
                )
            )
        )
        lost = list(
            session.scalars(
                select(SyncRun.id).where(
                    SyncRun.status == "queued", SyncRun.created_at < now - REQUEUE_AFTER
                )
            )
        )
        session.execute(
            update(SyncRun)
            .where(
                SyncRun.status == "cancelled",
                SyncRun.finished_at.is_(None),
                or_(SyncRun.heartbeat_at.is_(None), SyncRun.heartbeat_at < now - STALE_AFTER),
            )
            .values(finished_at=now)
            .execution_options(synchronize_session=False)
        )
    for run_id in stale + lost:
        enqueue_run(deps, run_id)
    if stale:
        log.warning("resuming stale sync runs", extra={"run_ids": stale})
    return stale + lost


# -- reads ------------------------------------------------------------------------------------


def get_run(deps: Deps, run_id: int) -> dict[str, Any]:
    with deps.session() as session:
        run = session.get(SyncRun, run_id)
        if run is None:
            raise NotFoundError(f"sync run {run_id} does not exist")
        return run_views(session, [run], deps.settings.public_url)[0]


def list_runs(
    deps: Deps,
    *,
    connection: str | None = None,
    goal: str | None = None,
    status: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first; ``before_id`` pages backwards."""
    query = select(SyncRun).order_by(SyncRun.id.desc()).limit(max(1, min(limit, 200)))
    with deps.session() as session:
        if connection is not None:
            query = query.where(
                SyncRun.sync_connection_id == connection_by_code(session, connection).id
            )
        if goal is not None:
            query = query.where(SyncRun.goal_code == goal)
        if status is not None:
            query = query.where(SyncRun.status == status)
        if before_id is not None:
            query = query.where(SyncRun.id < before_id)
        return run_views(session, list(session.scalars(query)), deps.settings.public_url)
