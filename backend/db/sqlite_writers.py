"""SQLite writers that queue for the write lock instead of polling for it.

Every Optline transaction on SQLite starts with ``BEGIN IMMEDIATE`` (writers serialise there).
When another connection holds the lock, SQLite's busy handler retries after sleeps that grow to
100 ms, so with writers in several processes (web workers, the RQ worker) the lock is often
free while they sleep. These connections first take an exclusive ``flock`` on a file next to the
database, held until COMMIT or ROLLBACK: the kernel hands it to the next waiter as soon as it is
released. A thread that already holds it through another connection skips the queue and gets
SQLite's own behaviour (wait up to the busy timeout, then "database is locked"), so nesting never
hangs.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from typing import Any

_holders: dict[str, int] = {}  # lock file -> thread holding it in this process
_holders_lock = threading.Lock()


def queued_writer_factory(lock_path: str) -> type[sqlite3.Connection]:
    """A ``sqlite3.Connection`` class (``connect(factory=…)``) queueing on ``lock_path``."""

    class QueuedWriter(sqlite3.Connection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._lock_fd = -1
            self._holding = False

        def enter_queue(self) -> None:
            """Wait for our turn to write; call right before BEGIN IMMEDIATE."""
            me = threading.get_ident()
            with _holders_lock:
                if _holders.get(lock_path) == me:
                    return  # nested in this thread: leave it to SQLite's busy timeout
            if self._lock_fd < 0:
                self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            with _holders_lock:
                _holders[lock_path] = me
            self._holding = True

        def leave_queue(self) -> None:
            if self._holding:
                self._holding = False
                with _holders_lock:
                    _holders.pop(lock_path, None)
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self.leave_queue()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self.leave_queue()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self.leave_queue()
                if self._lock_fd >= 0:
                    os.close(self._lock_fd)
                    self._lock_fd = -1

    return QueuedWriter
