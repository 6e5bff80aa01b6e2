"""``optline worker`` with test-sized constants: a short outbox lease, small claims, a fast
sweeper. ``python -m tests.faults.worker_child``; everything else comes from OPTLINE_* variables.
"""

from __future__ import annotations

import os


def main() -> None:
    from backend.cli.run import run_worker
    from backend.jobs import cron, schedules
    from backend.services import outbox

    outbox.LEASE_SECONDS = int(float(os.environ.get("OPTLINE_FAULTS_LEASE_SECONDS", "3")))
    limit = int(os.environ.get("OPTLINE_FAULTS_CLAIM_LIMIT", str(outbox.CLAIM_LIMIT)))
    outbox.CLAIM_LIMIT = limit
    if outbox.claim.__kwdefaults__ is not None:
        outbox.claim.__kwdefaults__["limit"] = limit  # bound when claim() was defined
    cron.TICK_SECONDS = 0.5
    schedules.OUTBOX_SWEEP_SECONDS = int(os.environ.get("OPTLINE_FAULTS_SWEEP_SECONDS", "1"))
    run_worker(burst=os.environ.get("OPTLINE_FAULTS_BURST") == "1")


if __name__ == "__main__":
    main()
