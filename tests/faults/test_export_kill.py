"""kill -9 of a worker mid export run, then resume: Braze holds exactly the expected attributes,
nothing inflated (exports send absolute values), nothing missing."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from backend.services.deps import Deps
from backend.services.sync_export import run_export
from tests.fakes.braze_fake import BrazeFake, Fault
from tests.faults.services import ROOT
from tests.faults.trials import record, seeds
from tests.integration.sync_engines.conftest import World

N = 300  # 4 batches of 75


def trial_params() -> list[object]:
    return [
        pytest.param(
            seed,
            marks=[pytest.mark.faults] + ([pytest.mark.faults_smoke] if i == 0 else []),
            id=f"seed{seed}",
        )
        for i, seed in enumerate(seeds(2))
    ]


@pytest.fixture
def fake() -> Iterator[BrazeFake]:
    with BrazeFake() as braze:
        yield braze


def export_world(deps: Deps, fake: BrazeFake) -> World:
    """The sync-engine World without an S3 server: exports only talk to /users/track."""
    s3: Any = SimpleNamespace(endpoint_url="http://127.0.0.1:9")
    return World(deps, fake, s3, "unused-bucket").setup()


def start_child(deps: Deps, run_id: int, concurrency: int) -> subprocess.Popen[bytes]:
    options = {
        "database_url": deps.settings.database_url,
        "encryption_key": deps.settings.encryption_key,
        "instance_path": str(deps.settings.instance_path),
        "run_id": run_id,
        "concurrency": concurrency,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.sync_engines.export_child", json.dumps(options)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.mark.parametrize("seed", trial_params())
def test_kill_9_mid_export_then_resume_is_exact(seed: int, deps: Deps, fake: BrazeFake) -> None:
    rng = random.Random(seed)
    world = export_world(deps, fake)
    expected = {
        f"e{seed}-{i:04}": {"points": rng.randint(0, 10_000), "tier": rng.choice("ABC")}
        for i in range(N)
    }
    ids = world.profiles(
        [{"external_id": ext, "properties": props} for ext, props in expected.items()]
    )
    world.segment("vip", ids)
    goal = world.export_goal(
        mappings=[
            {"source": "property", "name": "points", "braze": "points"},
            {"source": "property", "name": "tier", "braze": "tier"},
        ]
    )
    run_id = world.run("export", goal)
    fake.script("/users/track", [Fault(delay=rng.uniform(0.15, 0.3))] * 1000)
    child = start_child(deps, run_id, rng.choice([1, 1, 2]))
    k = rng.randint(1, 3)
    deadline = time.monotonic() + 30
    while len(fake.requests_to("/users/track")) < k and child.poll() is None:
        assert time.monotonic() < deadline, f"seed={seed}: no requests"
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.1))
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    time.sleep(0.3)  # requests in flight at the kill land
    sent_before = len(fake.requests_to("/users/track"))
    checkpoint = dict(world.sync_run(run_id).checkpoint)
    fake.clear_faults()
    run_export(deps, run_id)  # resume
    users = {u["external_id"]: u["attributes"] for u in fake.users.values()}
    objects = [o for r in fake.requests_to("/users/track") for o in r.body["attributes"]]
    inflated = sum(1 for o in objects for v in o.values() if isinstance(v, dict))
    lost = {e for e, a in expected.items() if users.get(e) != a}
    record(
        "export_kill9",
        seed,
        profiles=N,
        requests_at_kill=sent_before,
        acked_at_kill=checkpoint.get("after_profile_id"),
        killed_returncode=child.returncode,
        lost=len(lost),
        resent=len(objects) - N,
        inflated=inflated,
        users=len(users),
    )
    assert lost == set(), f"seed={seed}: {sorted(lost)[:5]}"
    assert len(users) == N and inflated == 0, f"seed={seed}"
    assert world.sync_run(run_id).counts.get("failed", 0) == 0, f"seed={seed}"
