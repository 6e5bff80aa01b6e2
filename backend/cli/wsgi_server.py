"""gunicorn, embedded so ``optline serve`` needs no extra command line."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class OptlineServer(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from backend.app import create_app
        from backend.logs import configure_logging
        from backend.settings import Settings

        settings = Settings.from_env()
        configure_logging(settings.log_level)
        return create_app(settings)


def run_gunicorn(bind: str, *, workers: int, threads: int, access_log: bool = False) -> None:
    """gunicorn's access log (a line on stdout a request) is off unless asked for: the reverse
    proxy in front logs requests, and formatting the line costs a save about a tenth of its
    time."""
    OptlineServer(
        {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-" if access_log else None,
            "forwarded_allow_ips": "127.0.0.1",
            "reuse_port": True,
            "timeout": 60,
        }
    ).run()
