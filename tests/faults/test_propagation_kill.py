"""kill -9 of ``optline worker`` at a random moment while visitors save, then a fresh worker (and
the sweeper, after the shortened lease) runs to completion: Braze ends with every final state."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.braze_fake import BrazeFake, Fault
from tests.faults.services import RedisProcess
from tests.faults.stack import build_stack
from tests.faults.trials import record, seeds

TOPICS = ("newsletter", "offers")


def trial_params() -> list[object]:
    out: list[object] = []
    for index, seed in enumerate(seeds(1)):
        marks = [pytest.mark.faults] + ([pytest.mark.faults_smoke] if index == 0 else [])
        out.append(pytest.param(seed, index == 0, marks=marks, id=f"seed{seed}"))
    return out


class InFlightBrazeFake(BrazeFake):
    """Knows how many status/set requests it is answering now, so a kill can land mid-request."""

    in_flight = 0

    def _respond(self, request: Any, raw: bytes, generation: int) -> Any:
        counted = request.path == "/subscription/status/set"
        with self.lock:
            self.in_flight += counted
        try:
            return super()._respond(request, raw, generation)
        finally:
            with self.lock:
                self.in_flight -= counted


@pytest.fixture
def fake() -> Iterator[BrazeFake]:
    with InFlightBrazeFake() as braze:
        yield braze


@pytest.mark.parametrize(("seed", "smoke"), trial_params())
def test_kill_9_during_propagation_loses_nothing(
    seed: int,
    smoke: bool,
    database_url: str,
    tmp_path: Path,
    fake: BrazeFake,
    fault_redis: RedisProcess,
) -> None:
    rng = random.Random(seed)
    stack = build_stack(database_url, tmp_path / "instance", fake, fault_redis)
    # Every request takes a while, so the kill lands between claim and record (or mid-request).
    fake.script("/subscription/status/set", [Fault(delay=rng.uniform(0.02, 0.08))] * 10_000)
    fake.script("/users/track", [Fault(delay=0.02)] * 10_000)
    visitors = [f"v{seed}-{n}" for n in range(rng.randint(8, 20))]
    worker = stack.worker(claim_limit=rng.choice([5, 10, 25]), lease_seconds=1 if smoke else 2)
    started = time.monotonic()
    saves = 0
    for _ in range(rng.randint(10, 15) if smoke else rng.randint(30, 60)):
        sub = rng.choice(visitors)
        changes = [(t, rng.choice(("subscribed", "unsubscribed"))) for t in TOPICS]
        changes = rng.sample(changes, rng.randint(1, 2))
        assert stack.save(sub, changes) == 200, f"seed={seed}"
        saves += 1
        if rng.random() < 0.3:  # a flip-flop: the opposite state right after
            topic, state = changes[0]
            flip = "unsubscribed" if state == "subscribed" else "subscribed"
            assert stack.save(sub, [(topic, flip)]) == 200, f"seed={seed}"
            saves += 1
    # Kill when the fake has received k requests (plus a random few ms): mid-claim, mid-request.
    # Odd seeds: the moment a request is in flight after the k-th (its answer is lost).
    k = rng.randint(1, 6)
    stack.wait(lambda: len(fake.requests) >= k, timeout=15)
    mid_request = seed % 2 == 1
    if mid_request:
        stack.wait(lambda: fake.in_flight > 0, timeout=5)  # type: ignore[attr-defined]
    else:
        time.sleep(rng.uniform(0.0, 0.06))
    worker.kill9()
    killed_at = time.monotonic() - started
    time.sleep(0.2)  # a request the kill interrupted still lands on the fake
    requests_at_kill = len(fake.requests)
    in_flight_at_kill = stack.statuses().get("in_flight", 0)
    fresh = stack.worker(claim_limit=25, lease_seconds=1 if smoke else 2)
    try:
        settled = stack.wait(stack.settled, timeout=60)
    finally:
        fresh.stop()
    result = stack.compare()
    record(
        "propagation_kill9",
        seed,
        saves=saves,
        killed_at=round(killed_at, 3),
        requests_at_kill=requests_at_kill,
        mid_request=mid_request,
        in_flight_at_kill=in_flight_at_kill,
        lost=len(result["lost"]),
        resent=result["resent"],
        dead=result["dead"],
        expected=result["expected"],
        settled=settled,
    )
    assert settled, f"seed={seed}: outbox not settled: {stack.statuses()}"
    assert result["lost"] == {}, f"seed={seed}: lost {result['lost']}"
    assert result["dead"] == 0, f"seed={seed}"
