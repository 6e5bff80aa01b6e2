"""``optline keys rotate``: re-encrypt stored secrets with the newest OPTLINE_ENCRYPTION_KEY."""

from __future__ import annotations

import click

from backend.cli.context import command_deps


def register(cli: click.Group) -> None:
    @cli.group()
    def keys() -> None:
        """Encryption keys."""

    @keys.command("rotate")
    def rotate() -> None:
        """Re-encrypt every stored secret with the first key of OPTLINE_ENCRYPTION_KEY."""
        from backend.services.key_rotation import rotate_encryption

        report = rotate_encryption(command_deps())
        click.echo(f"re-encrypted {report.rotated} secrets with the newest key")
