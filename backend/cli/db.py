"""``optline db upgrade``."""

from __future__ import annotations

import click

from backend.settings import Settings


def register(cli: click.Group) -> None:
    @cli.group()
    def db() -> None:
        """Database schema."""

    @db.command("upgrade")
    def upgrade() -> None:
        """Apply every pending migration."""
        from backend.db.migrate import upgrade as run_upgrade

        settings = Settings.from_env()
        run_upgrade(settings.database_url)
        click.echo("database is up to date")
