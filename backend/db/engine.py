"""Engine and session factory built from a database URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from backend.db.sqlite_checkpoints import BACKSTOP_PAGES, sqlite_file
from backend.db.sqlite_writers import queued_writer_factory


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain PostgreSQL URLs, the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def build_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, ``synchronous=NORMAL`` (with WAL: no fsync
    per commit; the database stays consistent, only a power cut may lose the last commits), a busy
    timeout, writers that queue for the lock (``sqlite_writers``), and automatic checkpoints only
    as a backstop: server processes checkpoint from a thread (``sqlite_checkpoints``)."""
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        connect_args: dict[str, Any] = {"timeout": 30}
        path = sqlite_file(url)
        if path:
            connect_args["factory"] = queued_writer_factory(path + "-writers")
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let pysqlite leave transactions to us so BEGIN IMMEDIATE works.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers serialise at BEGIN rather than failing mid-transaction on upgrade to write.
            # Queue for the write lock first (sqlite_writers), then take it.
            dbapi_conn = conn.connection.dbapi_connection
            if hasattr(dbapi_conn, "enter_queue"):
                dbapi_conn.enter_queue()
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def build_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
