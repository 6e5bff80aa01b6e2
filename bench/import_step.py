"""Import measurements, each in its own process.

``python -m bench.import_step '{"action": "write", ...}'`` writes a segment export into the
bucket the way Braze does: gzip JSON-lines files of 5,000 export objects under
``segment-export/<segment>/<date>/<object_prefix>/``.

``python -m bench.import_step '{"action": "run", ...}'`` runs the import goal ``runs`` times
against it (the fake answers /users/export/segment with that object prefix; the callback flag is
set, so no quiet period is waited out) and prints one JSON line with timings and peak RSS.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import bench_deps, finish_run, new_run, peak_rss_mb, seed_sync

from backend.services.sync_import import ImportTuning, run_import
from backend.services.sync_import_files import WatchTuning
from tests.fakes.braze_fake_exports import USERS_PER_FILE, export_file_body, export_key
from tests.fakes.s3_server import S3Server

SEGMENT = "bench-seg"


def export_object(i: int) -> dict[str, Any]:
    return {
        "external_id": f"u{i:07}",
        "braze_id": f"{i:024x}",
        "first_name": f"Name{i % 977}",
        "custom_attributes": {
            "loyalty_points": i % 500,
            "interests": ["golf", f"hobby{i % 11}"],
            "favorite_color": ["blue", "green", "red"][i % 3],
            "plan": "pro" if i % 4 else "free",
        },
    }


def write(payload: dict[str, Any]) -> dict[str, Any]:
    s3 = S3Server(endpoint_url=payload["endpoint_url"]).client()
    n, started = payload["users"], time.perf_counter()
    for start in range(0, n, USERS_PER_FILE):
        users = [export_object(i) for i in range(start, min(n, start + USERS_PER_FILE))]
        key = export_key(payload["prefix"], SEGMENT, payload["object_prefix"])
        s3.put_object(Bucket=payload["bucket"], Key=key, Body=export_file_body(users))
    return {"files": -(-n // USERS_PER_FILE), "seconds": round(time.perf_counter() - started, 1)}


def run(payload: dict[str, Any]) -> dict[str, Any]:
    deps = bench_deps(payload["database_url"], Path(payload["workdir"]))
    deps.extras["sync_import_tuning"] = ImportTuning(
        chunk_rows=payload.get("chunk_rows", 1000),
        watch=WatchTuning(poll_first=0.05, poll_max=1.0, quiet_period=600, timeout=600),
    )
    s3 = {key: payload[key] for key in ("bucket", "prefix", "endpoint_url")}
    s3 |= {"access_key_id": payload["access_key"], "secret_access_key": payload["secret_key"]}
    ids = seed_sync(deps, payload["fake_url"], s3=s3)
    results = []
    for number in range(payload.get("runs", 1)):
        run_id = new_run(deps, ids["sync"], "import", ids["import_goal"], callback_received=True)
        profiler = cProfile.Profile() if number == 0 and payload.get("profile") else None
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        run_import(deps, run_id)
        if profiler:
            profiler.disable()
            order = payload["profile"] if isinstance(payload["profile"], str) else "tottime"
            pstats.Stats(profiler, stream=sys.stderr).sort_stats(order).print_stats(35)
        elapsed = time.perf_counter() - started
        outcome = finish_run(deps, run_id)
        cpu = time.process_time() - cpu
        results.append(
            {
                "seconds": round(elapsed, 2),
                "cpu_seconds": round(cpu, 2),
                "counts": outcome["counts"],
            }
        )
    return {"runs": results, "peak_rss_mb": peak_rss_mb()}


if __name__ == "__main__":
    options = json.loads(sys.argv[1])
    action = write if options["action"] == "write" else run
    print(json.dumps(action(options)))
