"""The production web server of ``optline serve``: granian, embedded so no extra command line is
needed.

granian reads and writes HTTP in Rust, outside the GIL, and hands each request to one of the
worker's Python threads; gunicorn's threaded workers did that work in Python, on the same GIL as
the requests. At 500 saves/s on two cores, with the fixes below in both, that moved a save's p95
from 80–200 ms to 45–90 ms (``bench/RESULTS.md``).

Every worker process builds the app once (``production_app``), freezes what start-up built
(``server_heap``) and, on SQLite, checkpoints the log from a thread of its own
(``sqlite_checkpoints``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

APP_FACTORY = "backend.cli.wsgi_server:production_app"


def production_app() -> Flask:
    """The app of one worker process: settings read once, heap settled, checkpoints running."""
    from backend.app import create_app
    from backend.cli import server_heap
    from backend.db import sqlite_checkpoints
    from backend.logs import configure_logging
    from backend.settings import Settings

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    app = create_app(settings)
    checkpointer = sqlite_checkpoints.start_for(settings.database_url)
    if checkpointer is not None:
        app.extensions["optline.sqlite_checkpoints"] = checkpointer
    server_heap.settle()
    return app


def server_options(
    bind: str, *, workers: int, threads: int, access_log: bool = False
) -> dict[str, Any]:
    """granian's options for ``optline serve``'s: ``host:port``, ``[v6]:port`` or ``unix:path``.

    Its access log (a line a request) is off unless asked for: the reverse proxy in front logs
    requests, and Optline's own lines carry a request id."""
    from granian.constants import Interfaces

    options: dict[str, Any] = {
        "target": APP_FACTORY,
        "factory": True,
        "interface": Interfaces.WSGI,
        "workers": workers,
        "blocking_threads": threads,
        "websockets": False,  # WSGI has none; saying so spares a line at every start
        "log_access": access_log,
        "respawn_failed_workers": True,
    }
    if bind.startswith("unix:"):
        options["uds"] = Path(bind[len("unix:") :])
        return options
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--bind: expected host:port or unix:path, got {bind!r}")
    options["address"] = host.strip("[]") or "127.0.0.1"
    options["port"] = int(port)
    return options


def run_server(options: dict[str, Any]) -> None:
    """Serve until SIGINT or SIGTERM (granian stops its workers gracefully)."""
    from granian import Granian

    Granian(**options).serve()
