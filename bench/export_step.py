"""One export measurement in its own process: ``python -m bench.export_step '<json>'``.

Payload: ``database_url``, ``workdir``, ``fake_url``, ``runs`` (how many export runs back to back,
e.g. 2: the full first run, then the no-op one), optional ``budget_share``, ``track_limit``,
``track_window``, ``concurrency``, ``seconds`` (stop the first run after this long: budget
bench), ``profile`` (cProfile the first run, top lines to stderr). Prints one JSON line.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
    bench_deps,
    fake_stats,
    finish_run,
    new_run,
    peak_rss_mb,
    reset_fake,
    seed_sync,
)
from sqlalchemy import update

from backend.db.models import SyncRun
from backend.services.sync_export import ExportTuning, run_export
from backend.services.sync_export_sender import SenderTuning


def main(payload: dict[str, Any]) -> dict[str, Any]:
    deps = bench_deps(payload["database_url"], Path(payload["workdir"]))
    deps.extras["sync_export_tuning"] = ExportTuning(
        track_limit=payload.get("track_limit", 3000),
        track_window=payload.get("track_window", 3.0),
        sender=SenderTuning(concurrency=payload.get("concurrency", 4)),
    )
    ids = seed_sync(deps, payload["fake_url"], budget_share=payload.get("budget_share", 0.8))
    results: list[dict[str, Any]] = []
    for number in range(payload.get("runs", 1)):
        reset_fake(payload["fake_url"])
        run_id = new_run(deps, ids["sync"], "export", ids["export_goal"])
        stopper = None
        if number == 0 and payload.get("seconds"):
            stopper = threading.Timer(payload["seconds"], _cancel, args=(deps, run_id))
            stopper.start()
        profiler = cProfile.Profile() if number == 0 and payload.get("profile") else None
        started, cpu = time.perf_counter(), time.process_time()
        try:
            if profiler:
                profiler.enable()
            run_export(deps, run_id)
        except Exception as exc:
            if type(exc).__name__ != "RunCancelledError":
                raise
        finally:
            if profiler:
                profiler.disable()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        if stopper:
            stopper.cancel()
        stats = fake_stats(payload["fake_url"])
        run = finish_run(deps, run_id)
        results.append({
            "seconds": round(elapsed, 2),
            "cpu_seconds": round(cpu, 2),
            "counts": run["counts"],
            "progress": run["progress"],
            "requests": stats["requests"],
            "ok": stats["ok"],
            "throttled": stats["throttled"],
            "objects": stats["objects"],
            "fake_seconds": round(stats["last"] - stats["first"], 2) if stats["last"] else 0.0,
        })  # fmt: skip
        if profiler:
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    return {"runs": results, "peak_rss_mb": peak_rss_mb()}


def _cancel(deps: Any, run_id: int) -> None:
    with deps.session() as session:
        session.execute(update(SyncRun).where(SyncRun.id == run_id).values(status="cancelled"))


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
