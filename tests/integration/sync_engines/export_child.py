"""A worker process for the kill -9 test: runs one export run, to be killed mid-way.

``python -m tests.integration.sync_engines.export_child '<json>'`` with the database URL,
encryption key, instance path and run id; it builds its own deps like a real worker.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from backend.services.sync_export import ExportTuning, run_export
from backend.services.sync_export_sender import SenderTuning
from backend.settings import Settings
from backend.wiring import build_deps


def main(raw: str) -> None:
    options = json.loads(raw)
    settings = Settings(
        env="development",
        instance_path=Path(options["instance_path"]),
        database_url=options["database_url"],
        encryption_key=options["encryption_key"],
        secret_key="child",
        allow_custom_braze_endpoints=True,
    )
    deps = build_deps(settings)
    deps.extras["sync_export_tuning"] = ExportTuning(
        sender=SenderTuning(concurrency=options.get("concurrency", 4))
    )
    run_export(deps, int(options["run_id"]))


if __name__ == "__main__":
    main(sys.argv[1])
