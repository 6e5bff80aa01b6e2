"""RQ job: send one Braze connection's due outbox rows."""

from __future__ import annotations

from backend.jobs.runtime import get_deps
from backend.services.propagation import propagate_connection


def propagate_connection_job(connection_id: int) -> None:
    propagate_connection(get_deps(), connection_id)
