"""Test databases: a migrated SQLite template copied per test, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from backend.db.engine import normalise_database_url
from backend.db.migrate import upgrade
from backend.db.models import Base

# `make test` runs the suite on embedded defaults (OPTLINE_TEST_SERVICES=0), then again on the
# services named by OPTLINE_TEST_DATABASE_URL / OPTLINE_TEST_REDIS_URL (OPTLINE_TEST_SERVICES=1).
USE_TEST_SERVICES = os.environ.get("OPTLINE_TEST_SERVICES", "1") != "0"
TEST_DATABASE_URL = os.environ.get("OPTLINE_TEST_DATABASE_URL", "") if USE_TEST_SERVICES else ""


def migrated_sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """Create a uniquely named database next to the given one, migrate it, drop it afterwards."""
    url = make_url(normalise_database_url(server_url))
    name = f"optline_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    test_url = url.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(test_url)
        yield test_url
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def truncate_all(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
                )
            )
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))


def copy_template(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"
