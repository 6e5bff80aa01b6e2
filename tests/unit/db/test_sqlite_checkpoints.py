"""SQLite's log is copied back by a thread of the server process, not inside a commit: commits
never checkpoint below the backstop, and the thread keeps the log short."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from backend.db.engine import build_engine
from backend.db.sqlite_checkpoints import (
    BACKSTOP_PAGES,
    Checkpointer,
    sqlite_file,
    start_for,
)

ROW = b"x" * 8000  # two to three pages a row


def engine_for(path: Path) -> Engine:
    engine = build_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE rows (body BLOB)")
    return engine


def write(engine: Engine, transactions: int) -> None:
    for _ in range(transactions):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO rows (body) VALUES (:b)"), {"b": ROW})


def wal_pages(path: Path) -> float:
    return Path(str(path) + "-wal").stat().st_size / 4096


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////srv/optline/optline.db", "/srv/optline/optline.db"),
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql://user@db/optline", None),
    ],
)
def test_only_sqlite_files_are_checkpointed(url: str, expected: str | None) -> None:
    assert sqlite_file(url) == expected
    if expected is None:
        assert start_for(url) is None


def test_connections_checkpoint_by_themselves_only_past_the_backstop(tmp_path: Path) -> None:
    engine = engine_for(tmp_path / "a.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_PAGES
    # 300 commits of ~700 pages in all: SQLite's default (1,000 pages) is not reached either,
    # but nothing is copied back: the log holds every page.
    write(engine, 300)
    assert wal_pages(tmp_path / "a.db") > 600
    engine.dispose()


def test_the_thread_keeps_the_log_short_while_commits_go_on(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    engine = engine_for(path)
    checkpointer = Checkpointer(str(path), interval=0.01).start()
    try:
        for _ in range(30):
            write(engine, 10)
            time.sleep(0.03)  # a few ticks: the log is copied back and restarts from its start
        assert checkpointer.runs >= 10
        assert wal_pages(path) < 200  # ~30 commits' worth at most, against 700 without it
    finally:
        checkpointer.stop()
        engine.dispose()
    assert not checkpointer._thread.is_alive()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM rows").scalar() == 300


def test_a_checkpoint_copies_back_every_committed_frame(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "c.db"
    engine = engine_for(path)
    write(engine, 20)
    conn = sqlite3.connect(path, isolation_level=None)
    busy, frames, copied = Checkpointer(str(path)).checkpoint(conn)
    assert busy == 0 and frames > 40 and copied == frames
    conn.close()
    engine.dispose()
