"""The ``optline`` command: one group, with subcommands in modules named for what they own."""

from __future__ import annotations

import sys
from typing import Any

import click

from backend.domain.errors import OptlineError


class OptlineGroup(click.Group):
    """Turns every expected error into one line on stderr and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OptlineError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:
            click.echo(
                f"error: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "),
                err=True,
            )
            sys.exit(1)


@click.group(cls=OptlineGroup)
@click.version_option(package_name="optline")
def cli() -> None:
    """Optline: preference center and profile sync for Braze."""


def _register() -> None:
    from backend.cli import admin, config, db, keys, profiles, reconcile, run, sync, token

    for module in (admin, config, db, keys, profiles, reconcile, run, sync, token):
        module.register(cli)


def main() -> None:
    _register()
    cli(prog_name="optline")
