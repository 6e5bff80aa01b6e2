"""kill -9 of an exporting worker, then resume: nothing lost, nothing applied twice.

The worker is a real subprocess sending to the Braze fake in this process; the fake answers
slowly so the kill lands after some batches were acknowledged and while others are in flight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.services.deps import Deps
from backend.services.sync_export import run_export
from tests.fakes.braze_fake import Fault
from tests.integration.sync_engines.conftest import World

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 900  # 12 batches of 75
ROOT = Path(__file__).resolve().parents[3]


def start_worker(deps: Deps, run_id: int) -> subprocess.Popen[bytes]:
    options = {
        "database_url": deps.settings.database_url,
        "encryption_key": deps.settings.encryption_key,
        "instance_path": str(deps.settings.instance_path),
        "run_id": run_id,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.sync_engines.export_child", json.dumps(options)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_kill_9_mid_run_then_resume_leaves_braze_exact(world: World) -> None:
    ids = world.profiles(
        [
            {"external_id": f"u{i:04}", "properties": {"points": 1000 + i, "tier": "gold"}}
            for i in range(N)
        ]
    )
    world.segment("vip", ids)
    goal = world.export_goal(
        mappings=[
            {"source": "property", "name": "points", "braze": "points"},
            {"source": "property", "name": "tier", "braze": "tier"},
        ]
    )
    run_id = world.run("export", goal)
    world.fake.script("/users/track", [Fault(delay=0.25)] * 10_000)

    worker = start_worker(world.deps, run_id)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            checkpoint = world.sync_run(run_id).checkpoint
            if int(checkpoint.get("after_profile_id") or 0) >= ids[4 * 75 - 1]:
                break
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            time.sleep(0.05)
        else:
            pytest.fail("the worker acknowledged no batches in time")
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL

    acked_at_kill = world.sync_run(run_id).checkpoint["after_profile_id"]
    assert acked_at_kill < ids[-1]  # killed mid-run: batches remained
    settled, count = time.monotonic(), -1
    while time.monotonic() - settled < 0.6:  # requests in flight at the kill still land
        now_count = len(world.fake.requests_to("/users/track"))
        if now_count != count:
            settled, count = time.monotonic(), now_count
        time.sleep(0.05)
    before = [o for r in world.fake.requests_to("/users/track") for o in r.body["attributes"]]
    position = {f"u{i:04}": pid for i, pid in enumerate(ids)}
    unacknowledged = [o for o in before if position[o["external_id"]] > acked_at_kill]
    assert unacknowledged  # Braze applied batches whose acknowledgement the kill lost
    world.fake.clear_faults()

    run_export(world.deps, run_id)  # resume in this process

    users = world.fake.users.values()
    assert len(users) == N  # nothing lost (and no user twice)
    assert {u["external_id"]: u["attributes"] for u in users} == {
        f"u{i:04}": {"points": 1000 + i, "tier": "gold"} for i in range(N)
    }
    objects = [o for r in world.fake.requests_to("/users/track") for o in r.body["attributes"]]
    assert not any(isinstance(v, dict) for o in objects for v in o.values())  # never inc/add
    resent = len(objects) - N
    # Sent again: only what was sent but not yet committed at the kill — the requests in flight
    # (concurrency 4) and the answered ones waiting for the next commit (queue depth 5 + 1).
    assert len(unacknowledged) <= resent <= (4 + 5 + 1) * 75
    counts = world.sync_run(run_id).counts
    assert counts["updated"] >= N and counts["failed"] == 0
    states = world.export_states(goal)
    assert set(states) == set(ids)
