"""RQ job: put outbox rows left behind (Redis down, a worker killed) back on their way."""

from __future__ import annotations

from backend.jobs.runtime import get_deps
from backend.services.propagation import sweep_outbox


def sweep_outbox_job() -> None:
    sweep_outbox(get_deps())
