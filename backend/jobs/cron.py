"""Periodic jobs as data: each entry is enqueued when due, by one worker at a time.

Every worker process runs a ticker thread; a Redis lock makes one of them do the enqueueing, and
deterministic job ids make a duplicate enqueue harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

TICK_SECONDS = 5.0
LOCK_KEY = "optline:cron:lock"


@dataclass(frozen=True)
class CronEntry:
    name: str
    every_seconds: float
    enqueue: Callable[[Any], None]  # given the JobQueue


_ENTRIES: dict[str, CronEntry] = {}


def register(entry: CronEntry) -> None:
    _ENTRIES[entry.name] = entry


def entries() -> list[CronEntry]:
    return list(_ENTRIES.values())


def tick(redis_conn: Any, jobs: Any, now: float | None = None) -> list[str]:
    """Enqueue every entry that is due; return their names."""
    now = time.time() if now is None else now
    if not redis_conn.set(LOCK_KEY, "1", nx=True, ex=max(1, int(TICK_SECONDS))):
        return []
    fired: list[str] = []
    try:
        for entry in entries():
            key = f"optline:cron:last:{entry.name}"
            last = float(redis_conn.get(key) or 0)
            if now - last >= entry.every_seconds:
                entry.enqueue(jobs)
                redis_conn.set(key, str(now))
                fired.append(entry.name)
    finally:
        redis_conn.delete(LOCK_KEY)
    return fired


class CronTicker(threading.Thread):
    def __init__(self, redis_conn: Any, jobs: Any) -> None:
        super().__init__(name="optline-cron", daemon=True)
        self.redis_conn = redis_conn
        self.jobs = jobs
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(TICK_SECONDS):
            try:
                tick(self.redis_conn, self.jobs)
            except Exception:  # Redis may be down; try again next tick
                log.warning("cron tick failed", exc_info=True)

    def stop(self) -> None:
        self.stopped.set()
