"""Counters kept in Redis so every web and worker process adds to the same Prometheus series."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

BRAZE_REQUESTS_KEY = "optline:metrics:braze_requests"
RUN_DURATION_KEY = "optline:metrics:run_seconds"


class RedisCounters:
    def __init__(self, redis_conn: Any) -> None:
        self.redis = redis_conn

    def braze_response(self, path: str, status: int) -> None:
        """Count one Braze call by endpoint and status; Redis being down only loses the count."""
        try:
            self.redis.hincrby(BRAZE_REQUESTS_KEY, f"{path}|{status}", 1)
        except Exception:  # metrics are best effort
            log.debug("could not count a braze call", exc_info=True)

    def braze_requests(self) -> dict[tuple[str, int], int]:
        raw = self.redis.hgetall(BRAZE_REQUESTS_KEY) or {}
        counts: dict[tuple[str, int], int] = {}
        for key, value in raw.items():
            text = key.decode() if isinstance(key, bytes) else str(key)
            path, _, status = text.rpartition("|")
            counts[(path, int(status))] = int(value)
        return counts
