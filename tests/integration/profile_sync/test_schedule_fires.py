"""A schedule fires on time: the cron tick (real Redis) queues the scheduling job, which queues
exactly the due runs, once, with deterministic job ids; a frozen clock drives it all."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import update

from backend.db.models import SyncConnection
from backend.jobs import cron, runtime, schedules
from backend.services import sync_runs
from backend.services.configuration import apply_configuration
from backend.services.deps import Deps
from backend.services.sync_schedules import enqueue_due_runs, sync_status
from tests.fakes.jobs import RecordingJobQueue
from tests.integration.profile_sync.conftest import FakeEngine, at, config, runs_of


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(configured: Deps) -> Iterator[Clock]:
    """Connection created Monday 2026-01-05 05:00 UTC; schedule 4 a day: 00, 06, 12, 18."""
    frozen = Clock(at(2026, 1, 5, 5, 0))
    configured.clock = frozen
    with configured.session() as session:
        session.execute(update(SyncConnection).values(created_at=frozen.now))
    runtime.set_deps(configured)
    yield frozen
    runtime.set_deps(None)


def run_job(call: Any) -> None:
    module, _, name = call.func.rpartition(".")
    getattr(importlib.import_module(module), name)(*call.args)


def tick(conn: Any, jobs: RecordingJobQueue, clock: Clock) -> list[str]:
    """One cron tick at the clock's time, then run the jobs it queued (like a worker would)."""
    jobs.calls.clear()
    fired = cron.tick(conn, jobs, now=clock.now.timestamp())
    for call in [c for c in jobs.calls if c.func == "backend.jobs.sync.sync_schedules_job"]:
        assert call.job_id == "sync-schedules" and call.queue == "sync"
        run_job(call)
    return fired


def run_calls(jobs: RecordingJobQueue) -> list[tuple[str, str | None]]:
    return [(c.func, c.job_id) for c in jobs.calls if c.func.endswith("run_goal_job")]


def test_a_schedule_fires_on_time_and_not_twice(
    configured: Deps, clock: Clock, jobs: RecordingJobQueue, redis_url: str
) -> None:
    schedules.register_all()
    conn = redis.Redis.from_url(redis_url)
    clock.now = at(2026, 1, 5, 5, 59, 30)
    assert "sync-schedules" in tick(conn, jobs, clock)
    assert runs_of(configured) == []

    clock.now = at(2026, 1, 5, 6, 0, 10)
    assert "sync-schedules" in tick(conn, jobs, clock)
    runs = runs_of(configured)
    assert [(r.goal_kind, r.goal_code, r.trigger, r.status) for r in runs] == [
        ("import", "braze-loyalty", "schedule", "queued"),
        ("export", "vip-to-braze", "schedule", "queued"),
    ]
    assert run_calls(jobs) == [("backend.jobs.sync.run_goal_job", f"sync-run-{r.id}") for r in runs]

    clock.now = at(2026, 1, 5, 6, 0, 45)  # the next tick, 35 s later: nothing more is due
    assert "sync-schedules" in tick(conn, jobs, clock)
    assert run_calls(jobs) == []
    assert len(runs_of(configured)) == 2

    clock.now = at(2026, 1, 5, 6, 0, 50)  # within 30 s of the last: the entry does not fire
    assert "sync-schedules" not in tick(conn, jobs, clock)
    conn.close()


def test_runs_finished_before_the_next_slot_wait_for_it(
    configured: Deps, clock: Clock, engines: FakeEngine
) -> None:
    clock.now = at(2026, 1, 5, 6, 0, 5)
    first = enqueue_due_runs(configured)
    assert len(first) == 2
    for run_id in first:
        sync_runs.execute_run(configured, run_id)
    clock.now = at(2026, 1, 5, 11, 59, 59)
    assert enqueue_due_runs(configured) == []
    clock.now = at(2026, 1, 5, 12, 0, 0)
    assert len(enqueue_due_runs(configured)) == 2


def test_a_busy_goal_is_skipped_and_a_late_worker_fires_once(
    configured: Deps, clock: Clock
) -> None:
    (manual,) = sync_runs.request_runs(configured, "braze-profiles", goal="vip-to-braze")
    clock.now = at(2026, 1, 5, 23, 40)  # the 06:00, 12:00 and 18:00 slots were all missed
    created = enqueue_due_runs(configured)
    kinds = {r.id: r.goal_kind for r in runs_of(configured)}
    assert [kinds[i] for i in created] == ["import"]  # the export goal is busy: skipped
    assert enqueue_due_runs(configured) == []  # one catch-up run, not one per missed slot
    sync_runs.cancel_run(configured, manual["id"])
    assert [kinds.get(i, "export") for i in enqueue_due_runs(configured)] == ["export"]


def test_disabled_or_unscheduled_connections_never_fire(configured: Deps, clock: Clock) -> None:
    entry = config()["sync_connections"][0]
    apply_configuration(
        configured,
        config(sync_connections=[{**entry, "enabled": False}]),
        dry_run=False,
        prune=False,
        actor="test",
    )
    clock.now = at(2026, 1, 6, 6, 0, 1)
    assert enqueue_due_runs(configured) == []
    apply_configuration(
        configured,
        config(sync_connections=[{**entry, "schedule": None}]),
        dry_run=False,
        prune=False,
        actor="test",
    )
    assert enqueue_due_runs(configured) == []


def test_timezone_schedules_fire_at_local_time(configured: Deps, clock: Clock) -> None:
    entry = config()["sync_connections"][0]
    weekly = {**entry, "schedule": {"days": ["mon"], "at": "09:30", "timezone": "Europe/Madrid"}}
    apply_configuration(
        configured, config(sync_connections=[weekly]), dry_run=False, prune=False, actor="test"
    )
    clock.now = at(2026, 1, 5, 8, 29)  # 09:29 in Madrid
    assert enqueue_due_runs(configured) == []
    clock.now = at(2026, 1, 5, 8, 30)
    assert len(enqueue_due_runs(configured)) == 2
    status = sync_status(configured)
    (connection,) = status
    assert connection["schedule"] == "mon at 09:30 (Europe/Madrid)"
    assert {g["next_run_at"] for g in connection["goals"]} == {(at(2026, 1, 12, 8, 30)).isoformat()}
    assert all(g["last_run"]["status"] == "queued" for g in connection["goals"])


def test_schedules_registration(configured: Deps) -> None:
    schedules.register_all()
    entry = {e.name: e for e in cron.entries()}["sync-schedules"]
    assert entry.every_seconds == 30
    jobs = RecordingJobQueue()
    entry.enqueue(jobs)
    assert [(c.func, c.queue, c.job_id) for c in jobs.calls] == [
        ("backend.jobs.sync.sync_schedules_job", "sync", "sync-schedules")
    ]
    assert timedelta(seconds=entry.every_seconds) < sync_runs.REQUEUE_AFTER
