"""What every worker of ``optline serve`` does once its app is built: start-up's objects frozen
out of the garbage collector's walks, and, on SQLite, the log checkpointed by a thread.

Run in a process of its own: freezing the test process's heap would change every later test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from backend.cli.server_heap import GEN1_THRESHOLD, GEN2_THRESHOLD

PROBE = """
import gc, json, time
from backend.cli.wsgi_server import production_app
app = production_app()
checkpointer = app.extensions.get("optline.sqlite_checkpoints")
time.sleep(0.6 if checkpointer else 0)
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "walked_by_a_full_collection": len(gc.get_objects()),
    "thresholds": gc.get_threshold()[1:],
    "checkpoints": checkpointer.runs if checkpointer else None,
    "alive": checkpointer._thread.is_alive() if checkpointer else None,
}))
"""


def probe(tmp_path: Path, database_url: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLINE_")}
    env.update(
        OPTLINE_DATABASE_URL=database_url,
        OPTLINE_INSTANCE_PATH=str(tmp_path / "instance"),
        OPTLINE_REDIS_URL="redis://127.0.0.1:1/0",  # never reached: nothing is served
        OPTLINE_LOG_LEVEL="WARNING",
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_worker_freezes_what_start_up_built_and_checkpoints_sqlite(tmp_path: Path) -> None:
    found = probe(tmp_path, f"sqlite:///{tmp_path / 'optline.db'}")
    # Flask, SQLAlchemy and the app: tens of thousands of objects, none walked again.
    assert isinstance(found["frozen"], int) and found["frozen"] > 50_000
    assert isinstance(found["walked_by_a_full_collection"], int)
    assert found["walked_by_a_full_collection"] < found["frozen"] / 10
    assert found["thresholds"] == [GEN1_THRESHOLD, GEN2_THRESHOLD]
    assert found["alive"] is True and isinstance(found["checkpoints"], int)
    assert found["checkpoints"] >= 1


def test_no_checkpoint_thread_for_an_in_memory_database(tmp_path: Path) -> None:
    found = probe(tmp_path, "sqlite://")
    assert found["checkpoints"] is None and found["alive"] is None
