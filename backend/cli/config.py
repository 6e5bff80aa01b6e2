"""``optline apply FILE`` and ``optline config export``."""

from __future__ import annotations

import json
import os

import click
import yaml

from backend.cli.context import command_deps


def register(cli: click.Group) -> None:
    @cli.command("apply")
    @click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
    @click.option(
        "--dry-run", is_flag=True, help="Validate and show what would change; write nothing."
    )
    @click.option(
        "--prune",
        is_flag=True,
        help="Delete objects of the kinds in the file that it does not name.",
    )
    def apply(path: str, dry_run: bool, prune: bool) -> None:
        """Create or update configuration from a YAML or JSON file (idempotent)."""
        from backend.services.configuration import apply_configuration, read_configuration_file

        document = read_configuration_file(path, os.environ)
        report = apply_configuration(
            command_deps(), document, dry_run=dry_run, prune=prune, actor="cli:apply"
        )
        for line in report.lines():
            click.echo(line)
        if dry_run:
            click.echo("dry run: nothing was written")

    @cli.group("config")
    def config_group() -> None:
        """The configuration as a file."""

    @config_group.command("export")
    @click.option(
        "--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
    )
    def export(fmt: str) -> None:
        """Print the current configuration in the format ``apply`` reads (secrets redacted)."""
        from backend.services.configuration import export_configuration

        document = export_configuration(command_deps())
        if fmt == "json":
            click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        else:
            click.echo(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), nl=False)
