"""What the import and export engines share: run bookkeeping inside their own transactions.

The engines write a run's counts, progress and checkpoint in the *same* transaction as the
profile or export state they change, so a crash never leaves the checkpoint ahead of (or behind)
the data. Status transitions (queued → running → succeeded/failed) stay with
``backend.services.sync_runs``; an engine that cannot finish raises ``SyncRunFailedError``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from backend.db.models import BrazeConnection, SyncConnection, SyncRun, SyncRunError
from backend.domain import json_codec
from backend.domain.errors import NotFoundError, OptlineError
from backend.services.deps import Deps
from backend.services.sync_runs import heartbeat, raise_if_cancelled

COUNT_KEYS = ("checked", "created", "updated", "unchanged", "skipped", "failed")
PREVIEW_SAMPLES = 20
PREVIEW_REQUESTS = 5


class SyncRunFailedError(OptlineError):
    """The run cannot finish; the message is what the run history shows."""


def empty_counts(existing: Mapping[str, Any] | None = None) -> dict[str, int]:
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for key, value in (existing or {}).items():
        if isinstance(value, int):
            counts[key] = value
    return counts


@dataclass(frozen=True)
class RunInfo:
    """The run as an engine needs it, read once at the start."""

    id: int
    goal_kind: str
    goal_id: int
    dry_run: bool
    sync_connection_id: int
    braze_connection_id: int
    budget_share: float
    s3_prefix: str
    counts: dict[str, int]
    checkpoint: dict[str, Any]


def load_run(session: Session, run_id: int, kind: str) -> RunInfo:
    run = session.get(SyncRun, run_id)
    if run is None:
        raise NotFoundError(f"sync run {run_id} does not exist")
    if run.goal_kind != kind:
        raise SyncRunFailedError(f"sync run {run_id} is an {run.goal_kind} run, not {kind}")
    sync_connection = session.get(SyncConnection, run.sync_connection_id)
    if sync_connection is None:
        raise NotFoundError(f"sync connection {run.sync_connection_id} does not exist")
    braze = session.get(BrazeConnection, sync_connection.braze_connection_id)
    if braze is None:
        raise NotFoundError(f"Braze connection {sync_connection.braze_connection_id} is gone")
    return RunInfo(
        id=run.id,
        goal_kind=run.goal_kind,
        goal_id=run.goal_id,
        dry_run=run.dry_run,
        sync_connection_id=sync_connection.id,
        braze_connection_id=braze.id,
        budget_share=float(braze.budget_share or 0.8),
        s3_prefix=braze.s3_prefix or "",
        counts=empty_counts(run.counts),
        checkpoint=dict(run.checkpoint or {}),
    )


def save_run(
    session: Session,
    run_id: int,
    now: Any,
    *,
    counts: Mapping[str, int] | None = None,
    checkpoint: Mapping[str, Any] | None = None,
    progress: Mapping[str, Any] | None = None,
    preview: Mapping[str, Any] | None = None,
) -> None:
    """Write the run's bookkeeping (and a heartbeat) in the caller's transaction.

    A cancelled run raises RunCancelledError here, so the caller's batch rolls back whole.
    """
    raise_if_cancelled(session, run_id)
    values: dict[str, Any] = {"heartbeat_at": now}
    if counts is not None:
        values["counts"] = dict(counts)
    if checkpoint is not None:
        values["checkpoint"] = dict(checkpoint)
    if progress is not None:
        values["progress"] = dict(progress)
    if preview is not None:
        values["preview"] = dict(preview)
    session.execute(update(SyncRun).where(SyncRun.id == run_id).values(**values))


def add_run_errors(session: Session, run_id: int, errors: Iterable[Mapping[str, Any]]) -> None:
    rows = [
        {
            "run_id": run_id,
            "row_ref": str(e.get("row_ref", ""))[:300],
            "profile_id": e.get("profile_id"),
            "field": (str(e["field"])[:200] if e.get("field") else None),
            "message": str(e.get("message", "")),
        }
        for e in errors
    ]
    if rows:
        session.execute(insert(SyncRunError), rows)


def upsert(session: Session, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """INSERT … ON CONFLICT DO UPDATE for SQLite and PostgreSQL, many rows in one statement."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table)
    changing = {c: statement.excluded[c] for c in rows[0] if c not in keys}
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=changing), rows)


def as_json(value: Any) -> Any:
    """A JSON column's value as read by the driver: SQLite gives text, psycopg Python values."""
    if isinstance(value, str | bytes):
        return {} if value == "{}" else json_codec.loads(value)
    return value


def sleeper(deps: Deps) -> Callable[[float], None]:
    """``time.sleep``, unless tests put another in ``deps.extras["sleep"]``."""
    found = deps.extras.get("sleep")
    return found if callable(found) else time.sleep


def beating_sleeper(deps: Deps, run_id: int) -> Callable[[float], None]:
    """A sleep that marks the run alive afterwards (and stops a cancelled run), for waits."""
    sleep = sleeper(deps)

    def sleep_and_beat(seconds: float) -> None:
        sleep(seconds)
        heartbeat(deps, run_id)

    return sleep_and_beat


@contextmanager
def tuned_gc() -> Iterator[None]:
    """Collect cyclic garbage less often while an engine runs.

    The hot loops allocate millions of short-lived dicts and tuples and create almost no cycles;
    with the default thresholds the collector's passes cost ~15 % of an export (bench/). Objects
    alive before the run are frozen out of the passes. RQ runs each job in its own forked work
    horse, so this setting lives as long as the job; it is restored anyway.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def monotonic(deps: Deps) -> Callable[[], float]:
    found = deps.extras.get("monotonic")
    return found if callable(found) else time.monotonic
