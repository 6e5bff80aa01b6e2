"""Bulk statements for the database driver itself, without SQLAlchemy's per-row processing:
the hot paths of imports and segment refreshes."""

from __future__ import annotations

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session


def driver_sql(session: Session, statement: str) -> tuple[Connection, str]:
    """A bulk statement for the driver itself (no per-row SQLAlchemy processing: hot paths).

    Statements are written with ``?`` placeholders and ``?j`` for a JSON value (passed as a JSON
    string); psycopg gets ``%s`` and an explicit JSONB cast.
    """
    conn = session.connection()
    if conn.dialect.paramstyle == "qmark":
        return conn, statement.replace("?j", "?")
    return conn, statement.replace("?j", "CAST(%s AS JSONB)").replace("?", "%s")


def placeholders(count: int) -> str:
    return ", ".join("?" * count)
