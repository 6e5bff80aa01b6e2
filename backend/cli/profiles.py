"""``optline profiles import FILE``: load profiles from NDJSON."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import IO

import click

from backend.cli.context import command_deps

EXIT_ALL_FAILED = 2


def register(cli: click.Group) -> None:
    @cli.group()
    def profiles() -> None:
        """The profile store."""

    @profiles.command("import")
    @click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True))
    @click.option(
        "--batch-size",
        type=click.IntRange(1, 10000),
        default=1000,
        show_default=True,
        help="Profiles committed per transaction.",
    )
    def import_command(path: str, batch_size: int) -> None:
        """Import profiles from FILE (NDJSON; '-' reads standard input).

        Each line is {"identifiers": {"external_id": ..., "email": ...}, "properties": {...}}:
        a profile is found by its identifiers or created; the properties given are set, a null
        removes one, properties not given are left alone.

        Bad lines are reported on stderr as "line N: field: problem" and skipped. Prints
        "N created, N updated, N unchanged, N failed". Exit status: 0 when at least one line
        was applied (failures are reported, not fatal), 2 when every line failed, 1 when the
        file cannot be read.
        """
        from backend.services.profile_import import import_ndjson

        deps = command_deps()
        stream: IO[bytes]
        if path == "-":
            stream, size = sys.stdin.buffer, None
        else:
            stream = open(path, "rb")  # noqa: SIM115 - closed below, streamed line by line
            size = os.fstat(stream.fileno()).st_size
        try:
            # Drawn on stderr, and only on a terminal (a pipe or log gets just the summary).
            with click.progressbar(
                length=size or 1,
                file=sys.stderr,
                label="importing",
                hidden=size is None or not sys.stderr.isatty(),
            ) as bar:

                def on_progress(consumed: int) -> None:
                    bar.update(consumed)

                def on_error(number: int, message: str) -> None:
                    click.echo(f"line {number}: {message}", err=True)

                summary = import_ndjson(
                    deps,
                    _lines(stream),
                    batch_size=batch_size,
                    on_error=on_error,
                    on_progress=on_progress,
                )
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
        click.echo(summary.text())
        if summary.failed and summary.failed == summary.lines:
            sys.exit(EXIT_ALL_FAILED)


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    yield from stream
