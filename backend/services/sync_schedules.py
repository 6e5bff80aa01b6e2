"""Scheduled sync runs: which goals are due, and what ``optline sync status`` shows.

A goal is due when its connection is enabled and has a schedule, and the schedule's next time
after the goal's last scheduled run (or, before any, after the connection was created) has come.
A due goal with a run already active is skipped; the run created counts as the schedule's run,
so a second tick in the same slot finds nothing due.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import BrazeConnection, SyncConnection, SyncRun
from backend.domain.errors import ConflictError
from backend.domain.schedules import (
    Schedule,
    describe_schedule,
    next_run_after,
    schedule_from_dict,
)
from backend.services.deps import Deps
from backend.services.sync_run_views import counts_of
from backend.services.sync_runs import GoalRef, active_run, create_run, enqueue_run, goals_of

log = logging.getLogger(__name__)


def _last_scheduled(session: Session, goal: GoalRef) -> datetime | None:
    return session.scalar(
        select(func.max(SyncRun.created_at)).where(
            SyncRun.goal_kind == goal.kind,
            SyncRun.goal_id == goal.id,
            SyncRun.trigger == "schedule",
        )
    )


def next_due(
    session: Session, connection: SyncConnection, schedule: Schedule, goal: GoalRef
) -> datetime:
    last = _last_scheduled(session, goal)
    return next_run_after(schedule, last or connection.created_at)


def enqueue_due_runs(deps: Deps) -> list[int]:
    """Create and enqueue a run for every due goal; returns the new run ids."""
    now = deps.clock()
    created: list[int] = []
    with deps.session() as session:
        connections = list(
            session.scalars(
                select(SyncConnection)
                .where(SyncConnection.enabled.is_(True), SyncConnection.schedule.is_not(None))
                .order_by(SyncConnection.id)
            )
        )
        due: list[GoalRef] = []
        for connection in connections:
            if not connection.schedule:
                continue
            schedule = schedule_from_dict(connection.schedule)
            for goal in goals_of(session, connection):
                if next_due(session, connection, schedule, goal) <= now:
                    due.append(goal)
    for goal in due:
        try:
            with deps.session() as session:
                if active_run(session, goal.kind, goal.id) is not None:
                    continue
                run = create_run(session, goal, dry_run=False, trigger="schedule", now=now)
                session.flush()
                created.append(run.id)
        except ConflictError:
            continue  # another scheduler or a manual run got there first
    for run_id in created:
        log.info("scheduled sync run queued", extra={"run_id": run_id})
        enqueue_run(deps, run_id)
    return created


def sync_status(deps: Deps) -> list[dict[str, Any]]:
    """Every connection with its goals: schedule, next run time, last run status and counts."""
    result = []
    with deps.session() as session:
        braze_codes = dict(session.execute(select(BrazeConnection.id, BrazeConnection.code)).all())
        for connection in session.scalars(select(SyncConnection).order_by(SyncConnection.code)):
            schedule = schedule_from_dict(connection.schedule) if connection.schedule else None
            goals = []
            for goal in goals_of(session, connection):
                last = session.scalars(
                    select(SyncRun)
                    .where(SyncRun.goal_kind == goal.kind, SyncRun.goal_id == goal.id)
                    .order_by(SyncRun.id.desc())
                    .limit(1)
                ).first()
                next_at = None
                if schedule is not None and connection.enabled:
                    next_at = next_due(session, connection, schedule, goal).isoformat()
                goals.append(
                    {
                        "goal": goal.code,
                        "kind": goal.kind,
                        "next_run_at": next_at,
                        "last_run": None
                        if last is None
                        else {
                            "id": last.id,
                            "status": last.status,
                            "counts": counts_of(last.counts),
                            "finished_at": last.finished_at.isoformat()
                            if last.finished_at
                            else None,
                        },
                    }
                )
            result.append(
                {
                    "connection": connection.code,
                    "braze_connection": braze_codes.get(connection.braze_connection_id, ""),
                    "enabled": connection.enabled,
                    "schedule": describe_schedule(schedule) if schedule else "on demand",
                    "goals": goals,
                }
            )
    return result
