"""SQLite's WAL checkpoints, run by a thread of the server process instead of inside a save.

In WAL mode SQLite copies the log back into the database file (a checkpoint, ending with an
fsync) when a commit leaves the log longer than ``wal_autocheckpoint`` pages, and it does so
inside that commit: the connection still holds the write lock, and every writer of every process
waits behind it. Under a steady stream of saves that is a stall of 10–20 ms about once a second.

The web processes run a PASSIVE checkpoint every half second from a thread of their own instead
(``start_for``). A passive checkpoint takes no write lock: writers go on meanwhile, and the log
is restarted from its beginning by the next writer once it has been copied back. Every connection
keeps an automatic threshold far above what the thread lets the log reach (``BACKSTOP_PAGES``),
so a process without the thread (a CLI command, a test) or a thread fallen behind still bounds
the log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy import make_url

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.5
BACKSTOP_PAGES = 10_000  # about 40 MB of log with 4 KB pages


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    path = parsed.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


class Checkpointer:
    """A daemon thread checkpointing one database file every ``interval`` seconds."""

    def __init__(self, path: str, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
        self.runs = 0

    def start(self) -> Checkpointer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def checkpoint(self, conn: sqlite3.Connection) -> tuple[int, int, int]:
        """One passive checkpoint: (busy, frames in the log, frames copied back)."""
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.runs += 1
        return int(busy), int(frames), int(copied)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.checkpoint(conn)
                except sqlite3.Error as exc:  # a locked or busy file: the next tick tries again
                    log.warning("sqlite checkpoint failed", extra={"error": str(exc)})
        finally:
            conn.close()


def start_for(database_url: str) -> Checkpointer | None:
    """Start checkpointing the database of ``database_url`` when it is a SQLite file."""
    path = sqlite_file(database_url)
    return Checkpointer(path).start() if path else None
