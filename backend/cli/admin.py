"""``optline admin create-user`` and ``optline admin create-token``."""

from __future__ import annotations

import sys

import click

from backend.cli.context import command_deps


def register(cli: click.Group) -> None:
    @cli.group()
    def admin() -> None:
        """Admin users and API tokens."""

    @admin.command("create-user")
    @click.argument("email")
    def create_user(email: str) -> None:
        """Create an admin user; the password is read from standard input."""
        from backend.services.admin_auth import create_admin_user

        password = sys.stdin.readline().rstrip("\r\n")
        create_admin_user(command_deps(), email, password)
        click.echo(f"created admin user {email.strip().lower()}", err=True)

    @admin.command("create-token")
    @click.argument("name")
    def create_token(name: str) -> None:
        """Create an admin API token and print only the token."""
        from backend.services.admin_auth import create_api_token

        click.echo(create_api_token(command_deps(), name))
