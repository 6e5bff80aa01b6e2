"""``optline sync run`` (now, in this process) and ``optline sync status``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from backend.cli.context import command_deps

COUNT_KEYS = ("checked", "created", "updated", "unchanged", "skipped", "failed")


def summary_line(run: dict[str, Any]) -> str:
    counts = ", ".join(f"{run['counts'][k]} {k}" for k in COUNT_KEYS)
    duration = run.get("duration_seconds")
    took = f" in {duration:.1f} s" if isinstance(duration, int | float) else ""
    dry = " (dry run)" if run.get("dry_run") else ""
    return f"run {run['id']} {run['kind']} {run['goal']}{dry}: {run['status']}{took} — {counts}"


def register(cli: click.Group) -> None:
    @cli.group()
    def sync() -> None:
        """Profile sync with Braze."""

    @sync.command("run")
    @click.argument("connection", metavar="CONNECTION")
    @click.option(
        "--goal", default=None, help="Only this goal (default: every goal, imports first)."
    )
    @click.option("--dry-run", is_flag=True, help="Plan and count, write nothing, send nothing.")
    @click.option("--json", "as_json", is_flag=True, help="Print the runs as the runs API does.")
    def run_command(connection: str, goal: str | None, dry_run: bool, as_json: bool) -> None:
        """Run CONNECTION's goals now, in this process (no worker needed), and wait.

        Prints one summary line per run (with --json: {"runs": [...]}, the runs API's objects).
        Exit status 1 when a run did not succeed, or when a goal already has a run going.
        """
        from backend.jobs import runtime
        from backend.jobs.sync import run_goal_job
        from backend.services.sync_runs import finish_run, get_run, request_runs

        deps = command_deps()
        runtime.set_deps(deps)
        queued = request_runs(
            deps, connection, goal=goal, dry_run=dry_run, trigger="cli", enqueue=False
        )
        results = []
        for run in queued:
            try:
                run_goal_job(run["id"])
            except KeyboardInterrupt:
                finish_run(deps, run["id"], "cancelled", "interrupted from the command line")
                click.echo(f"run {run['id']} interrupted", err=True)
                sys.exit(130)
            result = get_run(deps, run["id"])
            results.append(result)
            if not as_json:
                click.echo(summary_line(result))
                if result.get("error"):
                    click.echo(f"  error: {result['error']}")
                if result.get("errors"):
                    click.echo(f"  {result['errors']} row errors: {result['errors_url']}")
        if as_json:
            click.echo(json.dumps({"runs": results}, indent=2, ensure_ascii=False))
        if any(r["status"] != "succeeded" for r in results):
            sys.exit(1)

    @sync.command("status")
    @click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
    def status_command(as_json: bool) -> None:
        """Connections and goals: schedule, next run, last run's status and counts."""
        from backend.services.sync_schedules import sync_status

        status = sync_status(command_deps())
        if as_json:
            click.echo(json.dumps({"connections": status}, indent=2, ensure_ascii=False))
            return
        if not status:
            click.echo("no sync connections configured")
            return
        for conn in status:
            state = "enabled" if conn["enabled"] else "disabled"
            click.echo(
                f"{conn['connection']} (Braze {conn['braze_connection']}, {state}, "
                f"{conn['schedule']})"
            )
            for goal in conn["goals"]:
                next_at = goal["next_run_at"] or "-"
                last = goal["last_run"]
                if last is None:
                    last_text = "never run"
                else:
                    counts = ", ".join(f"{last['counts'][k]} {k}" for k in COUNT_KEYS)
                    last_text = f"last run {last['id']} {last['status']}: {counts}"
                click.echo(f"  {goal['kind']} {goal['goal']}: next {next_at}; {last_text}")
