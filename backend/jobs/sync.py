"""Profile-sync jobs: run one goal's run, and the periodic tick that queues scheduled runs."""

from __future__ import annotations

from backend.jobs.runtime import get_deps
from backend.services.sync_runs import execute_run, sweep_runs
from backend.services.sync_schedules import enqueue_due_runs


def run_goal_job(run_id: int) -> None:
    """Claim the run, dispatch to the import or export engine, record the outcome, notify."""
    execute_run(get_deps(), run_id)


def sync_schedules_job() -> None:
    """Queue every due scheduled run; resume stale runs and re-enqueue lost ones."""
    deps = get_deps()
    enqueue_due_runs(deps)
    sweep_runs(deps)
