"""1 vs 3 ``optline worker`` processes against one Redis and one PostgreSQL database, with a Braze
fake that takes LATENCY per request (I/O bound): propagation and export throughput, and no
(group, id) carried by two requests in flight at the same time."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text, update

from backend.db.models import SyncRun
from backend.jobs.queue import RQJobQueue
from backend.services import propagation
from backend.services.sync_runs import enqueue_run
from tests.database import postgres_database
from tests.fakes.braze_fake import BrazeFake
from tests.faults.services import RedisProcess, WorkerProcess, start_worker
from tests.faults.stack import ENCRYPTION_KEY, STATUS_SET, PropagationStack, build_stack
from tests.faults.test_export_kill import export_world
from tests.faults.trials import record
from tests.integration.preferences.conftest import connection_id

LATENCY = float(os.environ.get("OPTLINE_FAULTS_SCALE_LATENCY", "0.1"))
VISITORS = int(os.environ.get("OPTLINE_FAULTS_SCALE_VISITORS", "600"))
EXPORT_RUNS, EXPORT_PROFILES = 3, int(os.environ.get("OPTLINE_FAULTS_SCALE_PROFILES", "1500"))
PG_URL = os.environ.get("OPTLINE_TEST_DATABASE_URL") or os.environ.get(
    "OPTLINE_FAULTS_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
pytestmark = pytest.mark.faults


class SlowBrazeFake(BrazeFake):
    """Every request takes LATENCY; each one's (start, end, path, body) is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.timeline: list[tuple[float, float, str, Any]] = []

    def _respond(self, request: Any, raw: bytes, generation: int) -> Any:
        start = time.monotonic()
        time.sleep(LATENCY)
        response = super()._respond(request, raw, generation)
        with self.lock:
            self.timeline.append(
                (start, time.monotonic(), request.path, request.get_json(silent=True))
            )
        return response


def overlapping(timeline: Iterable[tuple[float, float, str, Any]]) -> int:
    """Pairs of requests in flight at once that carry the same (group, id)."""
    spans: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for start, end, path, body in timeline:
        if path != STATUS_SET or not isinstance(body, dict):
            continue
        for ident in body.get("external_ids") or []:
            spans.setdefault((body["subscription_group_id"], ident), []).append((start, end))
    clashes = 0
    for intervals in spans.values():
        intervals.sort()
        clashes += sum(1 for a, b in pairwise(intervals) if b[0] < a[1])
    return clashes


@pytest.fixture
def pg_url() -> Iterator[str]:
    try:
        engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: no PostgreSQL here
        pytest.skip(f"needs PostgreSQL at OPTLINE_FAULTS_PG_URL: {exc}")
    with postgres_database(PG_URL) as url:
        yield url


def start_workers(stack: PropagationStack, count: int) -> list[WorkerProcess]:
    return [
        stack.worker(claim_limit=50, extra_env={"OPTLINE_FAULTS_SWEEP_SECONDS": "3600"})
        for _ in range(count)
    ]


@pytest.mark.parametrize("workers", [1, 3])
def test_propagation_throughput(
    workers: int, pg_url: str, tmp_path: Path, fault_redis: RedisProcess
) -> None:
    fake = SlowBrazeFake()
    with fake:
        stack = build_stack(pg_url, tmp_path / "instance", fake, fault_redis)
        for i in range(VISITORS):
            state = "subscribed" if i % 2 else "unsubscribed"
            assert stack.save(f"s{i}", [("newsletter", state), ("offers", "subscribed")]) == 200
        fault_redis.client().flushall()  # drop the queued job: we start the clock ourselves
        procs = start_workers(stack, workers)
        try:
            time.sleep(4.0)  # the workers are up and idle
            started = time.monotonic()
            cid = connection_id(stack.deps)
            for n in range(workers):  # what saves arriving during a run do: more jobs queued
                propagation.enqueue_propagation(stack.deps, [cid], tag=f"-burst-{n}")
            assert stack.wait(stack.settled, timeout=180), stack.statuses()
            elapsed = time.monotonic() - started
        finally:
            for proc in procs:
                proc.stop()
        result = stack.compare()
        sent = stack.statuses()["sent"]
        clashes = overlapping(fake.timeline)
        first = min(t[0] for t in fake.timeline)
        last = max(t[1] for t in fake.timeline)
        record(
            "scale_propagation",
            workers,
            workers=workers,
            latency=LATENCY,
            rows=sent,
            seconds=elapsed,
            per_second=sent / elapsed,
            clashes=clashes,
            resent=result["resent"],
            lost=len(result["lost"]),
            requests=len(fake.timeline),
            braze_span=last - first,
            braze_busy=sum(t[1] - t[0] for t in fake.timeline),
        )
    assert result["lost"] == {} and result["resent"] == 0 and clashes == 0


@pytest.mark.parametrize("workers", [1, 3])
def test_export_throughput(
    workers: int, pg_url: str, tmp_path: Path, fault_redis: RedisProcess
) -> None:
    from backend.settings import Settings
    from backend.wiring import build_deps

    instance = tmp_path / "instance"
    instance.mkdir()
    settings = Settings(
        env="development",
        instance_path=instance,
        database_url=pg_url,
        secret_key="faults",
        encryption_key=ENCRYPTION_KEY,
        allow_custom_braze_endpoints=True,
    )
    conn = fault_redis.client()
    deps = build_deps(settings, redis=conn, jobs=RQJobQueue(conn))
    fake = SlowBrazeFake()
    with fake:
        world = export_world(deps, fake)
        run_ids = []
        for r in range(EXPORT_RUNS):
            ids = world.profiles(
                [
                    {"external_id": f"x{r}-{i:05}", "properties": {"points": i}}
                    for i in range(EXPORT_PROFILES)
                ]
            )
            world.segment(f"seg{r}", ids)
            goal = world.export_goal(
                code=f"goal-{r}",
                segment_code=f"seg{r}",
                mappings=[{"source": "property", "name": "points", "braze": "points"}],
            )
            run_ids.append(world.run("export", goal))
        with deps.session() as session:
            session.execute(
                update(SyncRun)
                .where(SyncRun.id.in_(run_ids))
                .values(status="queued", started_at=None)
            )
        procs = [
            start_worker(
                database_url=pg_url,
                redis_url=fault_redis.url,
                instance=instance,
                encryption_key=ENCRYPTION_KEY,
                extra_env={"OPTLINE_FAULTS_SWEEP_SECONDS": "3600"},
            )
            for _ in range(workers)
        ]
        try:
            time.sleep(4.0)
            started = time.monotonic()
            for run_id in run_ids:
                enqueue_run(deps, run_id)
            done = threading.Event()
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                statuses = [world.sync_run(r).status for r in run_ids]
                if all(s not in ("queued", "running") for s in statuses):
                    done.set()
                    break
                time.sleep(0.1)
            elapsed = time.monotonic() - started
        finally:
            for proc in procs:
                proc.stop()
        objects = Counter(
            o["external_id"]
            for _, _, path, body in fake.timeline
            if path == "/users/track" and body
            for o in body["attributes"]
        )
        total = EXPORT_RUNS * EXPORT_PROFILES
        record(
            "scale_export",
            workers,
            workers=workers,
            latency=LATENCY,
            profiles=total,
            seconds=elapsed,
            per_second=total / elapsed,
            statuses=statuses,
            sent_twice=sum(1 for n in objects.values() if n > 1),
            requests=len(fake.timeline),
        )
    assert done.is_set(), statuses
    assert set(statuses) == {"succeeded"}, statuses
    assert len(objects) == total and max(objects.values()) == 1
