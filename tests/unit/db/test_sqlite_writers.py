"""SQLite writers queue for the write lock: the next one starts as soon as the lock is released
(no back-off sleep), across connections and threads; nesting in one thread never hangs."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from backend.db.sqlite_writers import queued_writer_factory


def connect(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path,
        timeout=timeout,
        factory=queued_writer_factory(str(path) + "-writers"),
        check_same_thread=False,
    )
    conn.isolation_level = None
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def begin(conn: sqlite3.Connection) -> None:
    conn.enter_queue()  # type: ignore[attr-defined]
    conn.execute("BEGIN IMMEDIATE")


def test_the_next_writer_starts_as_soon_as_the_lock_is_released(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    first, second = connect(db), connect(db)
    first.execute("CREATE TABLE t (n INTEGER)")
    begin(first)
    first.execute("INSERT INTO t VALUES (1)")
    started: list[float] = []

    def write() -> None:
        begin(second)
        started.append(time.monotonic())
        second.execute("INSERT INTO t VALUES (2)")
        second.commit()

    worker = threading.Thread(target=write)
    worker.start()
    time.sleep(0.25)  # SQLite alone would now sleep in its back-off until about 0.33 s
    assert not started  # still queued behind the first writer
    released = time.monotonic()
    first.commit()
    worker.join(timeout=5)
    assert started and started[0] - released < 0.05
    assert [r[0] for r in first.execute("SELECT n FROM t ORDER BY n")] == [1, 2]


def test_rollback_and_close_release_the_queue(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    a, b = connect(db), connect(db)
    begin(a)
    a.rollback()
    begin(b)
    b.commit()
    begin(a)
    a.close()
    begin(b)  # would block for ever if close() kept the queue
    b.commit()


def test_nesting_in_one_thread_fails_like_sqlite_instead_of_hanging(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    outer, inner = connect(db), connect(db, timeout=0.2)
    begin(outer)
    t0 = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin(inner)
    assert time.monotonic() - t0 < 2
    outer.commit()
    inner.rollback()
    begin(inner)
    inner.commit()
