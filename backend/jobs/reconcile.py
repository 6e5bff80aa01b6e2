"""RQ jobs of two-way reconciliation: every connection (periodic), or one."""

from __future__ import annotations

from backend.jobs.runtime import get_deps
from backend.services.reconcile import reconcile_all, reconcile_connection


def reconcile_all_job() -> None:
    reconcile_all(get_deps())


def reconcile_connection_job(connection_id: int) -> None:
    reconcile_connection(get_deps(), connection_id)
