"""``optline reconcile CONNECTION``: pull Braze-side subscription changes now, in this process."""

from __future__ import annotations

import json
from datetime import date

import click

from backend.cli.context import command_deps


def register(cli: click.Group) -> None:
    @cli.command("reconcile")
    @click.argument("connection", metavar="CONNECTION")
    @click.option(
        "--since",
        default=None,
        metavar="YYYY-MM-DD",
        help="Read Braze's unsubscribes from this day (default: since the last run).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    def reconcile_command(connection: str, since: str | None, as_json: bool) -> None:
        """Compare CONNECTION's Braze-side state with Optline's and take Braze's newer changes.

        Prints the counts: checked, changed, unchanged, skipped. It also runs every 15 minutes
        on the worker.
        """
        from backend.domain.errors import ValidationError
        from backend.services.reconcile import reconcile_connection, summary

        start = None
        if since is not None:
            try:
                start = date.fromisoformat(since)
            except ValueError:
                raise ValidationError(f"--since: expected YYYY-MM-DD, got {since!r}") from None
        report = reconcile_connection(command_deps(), connection, since=start)
        if as_json:
            click.echo(json.dumps(report.as_dict(), indent=2))
            return
        for line in summary(report):
            click.echo(line)
