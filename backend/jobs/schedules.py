"""Registers the periodic jobs of every capability; imported by the worker at start-up."""

from __future__ import annotations

from backend.jobs.cron import CronEntry, register

OUTBOX_SWEEP_SECONDS = 15
SYNC_SCHEDULE_SECONDS = 30
RECONCILE_SECONDS = 15 * 60
RIGHTS_SWEEP_SECONDS = 5 * 60


def register_all() -> None:
    """Each capability adds its entries here (outbox sweep, reconcile, sync schedules)."""
    register(
        CronEntry(
            "outbox-sweep",
            OUTBOX_SWEEP_SECONDS,
            lambda jobs: jobs.enqueue(
                "backend.jobs.sweeper.sweep_outbox_job", queue="braze", job_id="outbox-sweep"
            ),
        )
    )
    register(
        CronEntry(
            "sync-schedules",
            SYNC_SCHEDULE_SECONDS,
            lambda jobs: jobs.enqueue(
                "backend.jobs.sync.sync_schedules_job", queue="sync", job_id="sync-schedules"
            ),
        )
    )
    register(
        CronEntry(
            "reconcile",
            RECONCILE_SECONDS,
            lambda jobs: jobs.enqueue(
                "backend.jobs.reconcile.reconcile_all_job", queue="default", job_id="reconcile-all"
            ),
        )
    )
    register(
        CronEntry(
            "rights-sweep",
            RIGHTS_SWEEP_SECONDS,
            lambda jobs: jobs.enqueue(
                "backend.jobs.rights.sweep_rights_requests_job",
                queue="default",
                job_id="rights-sweep",
            ),
        )
    )
