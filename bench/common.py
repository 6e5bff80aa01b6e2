"""Shared bench plumbing: the machine, a seeded database, the lean fake, deps, timings."""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from backend.db.engine import build_engine
from backend.db.migrate import upgrade
from backend.db.models import (
    BrazeConnection,
    ExportGoal,
    ImportGoal,
    Profile,
    Segment,
    SegmentMember,
    SyncConnection,
    SyncRun,
)
from backend.services.deps import Deps
from backend.settings import Settings
from backend.wiring import build_deps

ROOT = Path(__file__).resolve().parents[1]
ENCRYPTION_KEY = "bench-encryption-key"
API_KEY = "bench-key"
EXPORT_MAPPINGS = [
    {"source": "property", "name": "tier", "braze": "tier"},
    {"source": "property", "name": "points", "braze": "points"},
    {"source": "property", "name": "country", "braze": "country_code"},
    {"source": "property", "name": "interests", "braze": "interests"},
    {"source": "segments", "braze": "optline_segments"},
    {"source": "static", "value": "optline", "braze": "source_system"},
]


def machine() -> dict[str, Any]:
    mem_kb = 0
    try:
        with open("/proc/meminfo") as handle:
            mem_kb = int(handle.readline().split()[1])
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_deps(database_url: str, workdir: Path) -> Deps:
    settings = Settings(
        env="development", instance_path=workdir, database_url=database_url,
        encryption_key=ENCRYPTION_KEY, secret_key="bench", allow_custom_braze_endpoints=True,
    )  # fmt: skip
    return build_deps(settings)


def seed_template(path: Path, n: int) -> None:
    """A migrated SQLite database with ``n`` profiles, all members of segment ``vip``."""
    if path.exists():
        path.unlink()
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = build_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        # A rule every profile meets ({all: []}), so refreshing memberships keeps them all.
        conn.execute(insert(Segment), [{"code": "vip", "name": "VIP", "rule": {"all": []},
                                        "is_static": False, "created_at": now,
                                        "updated_at": now}])  # fmt: skip
    countries = ["ES", "MX", "US", "FR", "DE"]
    step = 20_000
    for start in range(0, n, step):
        rows = [
            {"id": i + 1, "profile_key": str(uuid.UUID(int=i)), "external_id": f"u{i:07}",
             "email": None, "identifiers": {},
             "properties": {"tier": "gold" if i % 3 else "silver", "points": i % 1000,
                            "country": countries[i % 5], "interests": ["ski", f"i{i % 7}"]},
             "interactions": [], "version": 1, "created_at": now, "updated_at": now}
            for i in range(start, min(n, start + step))
        ]  # fmt: skip
        with engine.begin() as conn:
            conn.execute(insert(Profile), rows)
            conn.execute(
                insert(SegmentMember), [{"segment_id": 1, "profile_id": r["id"]} for r in rows]
            )
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()


def copy_database(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    for suffix in ("-wal", "-shm"):
        if Path(str(template) + suffix).exists():
            shutil.copyfile(str(template) + suffix, str(target) + suffix)
    return f"sqlite:///{target}"


def seed_sync(
    deps: Deps,
    rest_endpoint: str,
    *,
    budget_share: float = 0.8,
    s3: dict[str, Any] | None = None,
) -> dict[str, int]:
    """A Braze connection to the fake, a sync connection and one goal of each kind."""
    s3 = s3 or {}
    with deps.session() as session:
        braze = BrazeConnection(
            code="braze-bench", name="Bench", rest_endpoint=rest_endpoint,
            api_key_encrypted=deps.secrets.encrypt(API_KEY), budget_share=budget_share,
            s3_bucket=s3.get("bucket"), s3_prefix=s3.get("prefix", ""),
            s3_endpoint_url=s3.get("endpoint_url"), s3_region="us-east-1",
            s3_access_key_id=s3.get("access_key_id"),
            s3_secret_access_key_encrypted=(
                deps.secrets.encrypt(s3["secret_access_key"]) if s3.get("secret_access_key")
                else None
            ),
        )  # fmt: skip
        session.add(braze)
        session.flush()
        sync = SyncConnection(code="bench", braze_connection_id=braze.id, notify={})
        session.add(sync)
        session.flush()
        export = ExportGoal(
            sync_connection_id=sync.id, code="vip-out", segment_code="vip",
            identifiers=[{"profile": "external_id", "braze": "external_id"}],
            create_if_missing=True, mappings=EXPORT_MAPPINGS, destinations={"braze": True},
        )  # fmt: skip
        imported = ImportGoal(
            sync_connection_id=sync.id, code="loyalty-in", braze_segment_id="bench-seg",
            identifiers=[{"braze": "external_id", "profile": "external_id"}],
            allow_create=True, remaining_fields={"enabled": True, "prefix": "braze_",
                                                "strategy": "set"},
            mappings=[{"braze": "first_name", "profile": "first_name", "strategy": "set"},
                      {"braze": "loyalty_points", "profile": "points", "strategy": "sum"},
                      {"braze": "interests", "profile": "interests", "strategy": "add"}],
        )  # fmt: skip
        session.add_all([export, imported])
        session.flush()
        return {"sync": sync.id, "export_goal": export.id, "import_goal": imported.id}


def new_run(deps: Deps, sync_id: int, kind: str, goal_id: int, **checkpoint: Any) -> int:
    with deps.session() as session:
        run = SyncRun(
            sync_connection_id=sync_id, goal_kind=kind, goal_id=goal_id, goal_code=kind,
            status="running", counts={}, progress={}, checkpoint=checkpoint,
            started_at=deps.clock(),
        )  # fmt: skip
        session.add(run)
        session.flush()
        return run.id


def finish_run(deps: Deps, run_id: int) -> dict[str, Any]:
    with deps.session() as session:
        run = session.get(SyncRun, run_id)
        assert run is not None
        run.status, run.finished_at = "succeeded", deps.clock()
        return {"counts": dict(run.counts), "progress": dict(run.progress)}


@contextmanager
def fast_fake(*, limit: int | None = None, window: float = 3.0, prefix: str = "") -> Iterator[str]:
    """The lean fake in its own process; yields its base URL."""
    command = [sys.executable, "-m", "bench.fast_fake", "--window", str(window)]
    if limit is not None:
        command += ["--limit", str(limit)]
    if prefix:
        command += ["--prefix", prefix]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def fake_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_stats", timeout=10) as response:
        return dict(json.loads(response.read()))


def reset_fake(url: str) -> None:
    request = urllib.request.Request(f"{url}/_reset", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def run_step(module: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One measurement in a fresh process (its own peak RSS); returns the JSON it prints."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", module, json.dumps(payload)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["step_seconds"] = round(time.monotonic() - started, 1)
    return dict(result)
