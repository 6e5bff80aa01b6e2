"""Redis killed and restarted mid-flow, the database connection dropped, and Braze answering 5xx
storms, 429 storms with reset headers, and slower than the client's timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from backend.domain.outbox_plan import MAX_ATTEMPTS
from backend.integrations.braze import BrazeClient
from backend.services import outbox_admin, propagation
from tests.fakes.braze_fake import BrazeFake, Fault
from tests.faults.services import RedisProcess
from tests.faults.stack import PropagationStack, build_stack
from tests.faults.trials import record
from tests.integration.preferences.conftest import GROUPS, connection_id

NEWS = GROUPS[("newsletter", "email")]
STATUS_SET = "/subscription/status/set"
pytestmark = pytest.mark.faults


@pytest.fixture
def fake() -> Iterator[BrazeFake]:
    with BrazeFake() as braze:
        yield braze


@pytest.fixture
def stack(
    database_url: str, tmp_path: Path, fake: BrazeFake, fault_redis: RedisProcess
) -> PropagationStack:
    return build_stack(database_url, tmp_path / "instance", fake, fault_redis)


def drive(stack: PropagationStack, timeout: float = 30.0) -> int:
    """Run propagation in this process, as a worker would, until the outbox settles."""
    cid = connection_id(stack.deps)
    rounds = 0
    deadline = time.monotonic() + timeout
    while not stack.settled() and time.monotonic() < deadline:
        propagation.propagate_connection(stack.deps, cid, rand=lambda: 0.0)
        rounds += 1
        time.sleep(0.05)
    return rounds


def save_many(stack: PropagationStack, n: int, prefix: str) -> None:
    for i in range(n):
        state = "subscribed" if i % 3 else "unsubscribed"
        assert stack.save(f"{prefix}-{i}", [("newsletter", state), ("offers", "subscribed")]) == 200


@pytest.mark.faults_smoke
def test_redis_killed_and_restarted_mid_flow(stack: PropagationStack) -> None:
    worker = stack.worker()
    try:
        save_many(stack, 6, "before")
        stack.redis.stop()  # Redis crashes (nothing persisted): queued jobs are gone
        save_many(stack, 6, "during")  # every save still succeeds: the outbox holds them
        assert stack.statuses().get("pending", 0) > 0
        stack.redis.start()  # back, empty; the worker reconnects, its cron runs the sweeper
        assert stack.wait(stack.settled, timeout=60), stack.statuses()
    finally:
        worker.stop()
    result = stack.compare()
    record(
        "redis_restart", 0, lost=len(result["lost"]), resent=result["resent"], dead=result["dead"]
    )
    assert result["lost"] == {} and result["dead"] == 0 and result["expected"] == 24


@pytest.mark.parametrize("trial", range(3))
def test_database_connections_terminated_mid_run(stack: PropagationStack, trial: int) -> None:
    url = stack.database_url
    if not url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (OPTLINE_TEST_DATABASE_URL): SQLite has no connections")
    stack.fake.script(STATUS_SET, [Fault(delay=0.1)] * 10_000)
    save_many(stack, 30, "db")
    worker = stack.worker(claim_limit=5)
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        terminated = 0
        for _ in range(12):
            time.sleep(0.25)
            with admin.begin() as conn:
                terminated += len(
                    conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    ).all()
                )
        assert stack.wait(stack.settled, timeout=60), stack.statuses()
    finally:
        worker.stop()
        admin.dispose()
    stack.deps.sessions.kw["bind"].dispose()  # our own pool lost its connections too
    result = stack.compare()
    record("db_drop", trial, terminated=terminated, lost=len(result["lost"]), dead=result["dead"])
    assert terminated > 0 and result["lost"] == {} and result["dead"] == 0


@pytest.mark.parametrize("length", [1, 3, MAX_ATTEMPTS - 2])
def test_a_5xx_storm_shorter_than_the_attempts_delivers_everything(
    stack: PropagationStack, length: int
) -> None:
    stack.fake.script(STATUS_SET, [Fault(status=503)] * length)
    save_many(stack, 20, "s5")
    drive(stack)
    result = stack.compare()
    record("storm_5xx", length, lost=len(result["lost"]), dead=result["dead"])
    assert result["lost"] == {} and result["dead"] == 0


def test_a_5xx_storm_outlasting_the_attempts_dead_letters_then_replays(
    stack: PropagationStack,
) -> None:
    stack.fake.fail_all(STATUS_SET, 503)
    save_many(stack, 5, "dead")
    drive(stack)
    dead = stack.statuses().get("dead", 0)
    assert dead == 10  # documented: a row is dead after MAX_ATTEMPTS failed attempts
    stack.fake.clear_faults()
    outbox_admin.replay_dead(stack.deps)
    drive(stack)
    result = stack.compare()
    record("storm_5xx_outlasting", 0, dead_before_replay=dead, lost=len(result["lost"]))
    assert result["lost"] == {} and result["dead"] == 0


@pytest.mark.parametrize("length", [1, 4])
def test_a_429_storm_with_reset_headers_is_waited_out(stack: PropagationStack, length: int) -> None:
    stack.fake.script(STATUS_SET, [Fault(status=429, reset_in=1.0)] * length)
    save_many(stack, 20, "s429")
    started = time.monotonic()
    drive(stack)
    elapsed = time.monotonic() - started
    result = stack.compare()
    record("storm_429", length, lost=len(result["lost"]), dead=result["dead"], seconds=elapsed)
    assert result["lost"] == {} and result["dead"] == 0
    assert elapsed >= 0.9  # the reset was honoured, not hammered


@pytest.mark.parametrize("flip", [False, True])
def test_braze_slower_than_the_client_timeout(stack: PropagationStack, flip: bool) -> None:
    """A timed-out request may still be applied by Braze later; a newer state must win."""
    fake = stack.fake
    stack.deps.braze_factory = lambda session, cid: BrazeClient(
        rest_endpoint=fake.url, api_key=fake.api_key, timeout=0.5
    )
    fake.script(STATUS_SET, [Fault(delay=1.2)])
    assert stack.save("slow-1", [("newsletter", "subscribed")]) == 200
    cid = connection_id(stack.deps)
    propagation.propagate_connection(stack.deps, cid, rand=lambda: 0.0)  # times out
    if flip:
        assert stack.save("slow-1", [("newsletter", "unsubscribed")]) == 200
    drive(stack)
    time.sleep(1.5)  # every slow request has landed on the fake by now
    result = stack.compare()
    record("timeout", int(flip), lost=len(result["lost"]), dead=result["dead"])
    assert result["lost"] == {}, result["lost"]
    assert result["dead"] == 0
