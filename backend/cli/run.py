"""``optline dev``, ``optline serve`` and ``optline worker``: the processes of Optline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import click

from backend.settings import Settings

# ``optline serve``: two granian worker processes of 24 threads. Widget saves are written in
# groups per process (``save_writer``), and a group holds the saves waiting when it begins: more
# threads make fewer, larger groups, which is where a save's time goes under load. At 500 saves/s
# on PostgreSQL, 24 threads gave p95 72 ms in two runs against 152-229 ms with 16 and 87-105 ms
# with 32; on SQLite 24 and 16 were alike (bench/RESULTS.md).
SERVE_WORKERS = 2
SERVE_THREADS = 24


def register(cli: click.Group) -> None:
    @cli.command("dev")
    @click.option("--no-worker", is_flag=True, help="Run only the web server.")
    def dev(no_worker: bool) -> None:
        """Run web + worker + scheduler on embedded defaults (SQLite, embedded Redis, sandbox)."""
        run_dev(no_worker=no_worker)

    @cli.command("serve")
    @click.option("--bind", default=None, help="host:port (default 127.0.0.1:$OPTLINE_PORT).")
    @click.option("--workers", type=int, default=SERVE_WORKERS, show_default=True)
    @click.option("--threads", type=int, default=SERVE_THREADS, show_default=True)
    @click.option("--access-log", is_flag=True, help="Print an access log line for every request.")
    def serve(bind: str | None, workers: int, threads: int, access_log: bool) -> None:
        """Run the production WSGI server (granian)."""
        from backend.cli.wsgi_server import run_server, server_options

        settings = Settings.from_env()
        try:
            options = server_options(
                bind or f"127.0.0.1:{settings.port}",
                workers=workers,
                threads=threads,
                access_log=access_log,
            )
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--bind") from exc
        run_server(options)

    @cli.command("worker")
    @click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
    @click.option(
        "--quiet-jobs", is_flag=True, help="Leave out RQ's line for every job started and done."
    )
    def worker(burst: bool, quiet_jobs: bool) -> None:
        """Run an RQ worker with its scheduler and the periodic-job ticker."""
        run_worker(burst=burst, quiet_jobs=quiet_jobs)


def run_worker(*, burst: bool = False, quiet_jobs: bool = False) -> None:
    from rq import Worker

    from backend.jobs import schedules
    from backend.jobs.cron import CronTicker
    from backend.jobs.queue import ALL_QUEUES
    from backend.jobs.runtime import get_deps
    from backend.logs import configure_logging

    deps = get_deps()
    configure_logging(deps.settings.log_level)
    if deps.redis is None:
        raise click.ClickException("OPTLINE_REDIS_URL is not set and no embedded Redis is running")
    schedules.register_all()
    ticker = CronTicker(deps.redis, deps.jobs)
    ticker.start()
    try:
        worker = Worker(list(ALL_QUEUES), connection=deps.redis)
        # RQ's own per-job lines; Optline's jobs log what they did at the settings' level.
        rq_level = "WARNING" if quiet_jobs else deps.settings.log_level
        worker.work(with_scheduler=True, burst=burst, logging_level=rq_level)
    finally:
        ticker.stop()


def run_dev(*, no_worker: bool = False) -> None:
    from backend.app import create_app
    from backend.db import sqlite_checkpoints
    from backend.db.migrate import upgrade
    from backend.integrations.embedded_redis import start_embedded_redis, stop_embedded_redis
    from backend.logs import configure_logging
    from backend.services.demo import seed_demo

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    redis_server: Any = None
    if not settings.redis_url:
        redis_server, url = start_embedded_redis(settings.instance_path)
        os.environ["OPTLINE_REDIS_URL"] = url
        settings = Settings.from_env()
    upgrade(settings.database_url)
    app = create_app(settings)
    # As in ``optline serve``'s workers: SQLite's log is copied back from a thread, not by a save.
    sqlite_checkpoints.start_for(settings.database_url)
    summary = seed_demo(app.extensions["optline.deps"])
    base = settings.public_url
    click.echo(f"Optline is running on {base}")
    click.echo(f"  admin:  {base}/admin   login {summary.admin_email} / {summary.admin_password}")
    click.echo(f"  demo:   {base}/demo")
    click.echo(f"  api:    {base}/api/openapi.json")
    children: list[subprocess.Popen[bytes]] = []
    if not no_worker:
        children.append(
            # The sweeps run every 15 s: RQ's lines for each would bury the terminal.
            subprocess.Popen(
                [sys.executable, "-m", "backend", "worker", "--quiet-jobs"], env=os.environ.copy()
            )
        )

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        app.run(host="127.0.0.1", port=settings.port, threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if redis_server is not None:
            stop_embedded_redis(redis_server)
