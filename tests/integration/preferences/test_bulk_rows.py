"""Rows written by ``bulk_rows`` read back exactly as rows written by Core statements, and a group
of widget saves runs as many statements on SQLite whatever its size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, event, insert, select, update

from backend.db.models import Subject
from backend.domain.identity import VisitorIdentity
from backend.domain.preferences import parse_save
from backend.services import bulk_rows
from backend.services.consent import ChoiceContext
from backend.services.deps import Deps
from backend.services.property_cache import property_snapshot
from backend.services.save_writer import SaveJob, write_group
from tests.integration.preferences.conftest import ORIGIN, PROPERTY

pytestmark = pytest.mark.integration

SUBJECTS = cast(Table, Subject.__table__)
NOW = datetime(2026, 12, 7, 10, 30, 15, 123456, tzinfo=UTC)
COMPARED = ("email", "created_at", "last_seen_at", "unsubscribed_all_at", "global_states")


def _row(n: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "subject_key": f"00000000-0000-4000-8000-{n:012d}",
        "external_id": f"bulk-{n}",
        "email": f"p{n}@example.com" if n % 2 else None,
        "created_at": NOW - timedelta(days=n),
        "last_seen_at": NOW if n % 3 else None,
        "unsubscribed_all_at": None,
        "global_states": {"email_subscribe": "unsubscribed"} if n % 2 else None,
    }
    row.update(values)
    return row


def _read(deps: Deps) -> dict[str, tuple[Any, ...]]:
    with deps.session() as session:
        return {
            str(s.external_id): tuple(getattr(s, name) for name in COMPARED)
            for s in session.scalars(select(Subject))
        }


def _sqlite(deps: Deps) -> bool:
    return deps.settings.database_url.startswith("sqlite")


def test_inserted_rows_read_back_as_core_inserts_them(deps: Deps) -> None:
    mine = [_row(n) for n in range(1, 5)]
    cores = [_row(n, external_id=f"core-{n}", subject_key=f"core-{n}") for n in range(1, 5)]
    with deps.session() as session:
        bulk_rows.insert_rows(session.connection(), SUBJECTS, mine)
        session.connection().execute(insert(SUBJECTS), cores)
        session.commit()
    stored = _read(deps)
    assert len(stored) == 8
    for n in range(1, 5):
        assert stored[f"bulk-{n}"] == stored[f"core-{n}"]
    assert stored["bulk-1"][1] == NOW - timedelta(days=1)
    assert stored["bulk-1"][4] == {"email_subscribe": "unsubscribed"}


@pytest.mark.parametrize("update_from", [True, False], ids=["update-from", "one-by-one"])
def test_updated_rows_read_back_as_core_updates_them(
    deps: Deps, monkeypatch: pytest.MonkeyPatch, update_from: bool
) -> None:
    if not update_from:  # the path of SQLite before 3.33 (and of PostgreSQL)
        monkeypatch.setattr(bulk_rows, "UPDATE_FROM_SQLITE", (99, 0, 0))
    with deps.session() as session:
        session.connection().execute(insert(SUBJECTS), [_row(n) for n in range(1, 7)])
        session.commit()
    with deps.session() as session:
        ids = dict(session.execute(select(SUBJECTS.c.external_id, SUBJECTS.c.id)).all())
    later = NOW + timedelta(hours=1)
    changes = {
        1: {"last_seen_at": later, "unsubscribed_all_at": later, "global_states": None},
        2: {"last_seen_at": None, "unsubscribed_all_at": None, "global_states": {"a": "b"}},
    }
    with deps.session() as session:
        conn = session.connection()
        bulk_rows.update_rows(
            conn, SUBJECTS, [{"id": ids[f"bulk-{n}"], **values} for n, values in changes.items()]
        )
        for n, values in changes.items():  # the same values on rows 3 and 4, through Core
            conn.execute(update(SUBJECTS).where(SUBJECTS.c.id == ids[f"bulk-{n + 2}"]), values)
        session.commit()
    stored = _read(deps)
    assert stored["bulk-1"][2:] == stored["bulk-3"][2:] == (later, later, None)
    assert stored["bulk-2"][2:] == stored["bulk-4"][2:] == (None, None, {"a": "b"})
    assert stored["bulk-5"] == tuple(_row(5)[name] for name in COMPARED)  # untouched
    assert stored["bulk-1"][:2] == tuple(_row(1)[name] for name in COMPARED[:2])


def test_rows_beyond_the_variable_limit_go_in_several_statements(
    deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_rows, "SQLITE_MAX_VARIABLES", 15)  # two rows of 7 a statement
    statements: list[str] = []
    rows = [_row(n) for n in range(1, 8)]
    with deps.session() as session:
        conn = session.connection()
        event.listen(conn, "before_cursor_execute", lambda *args: statements.append(args[2]))
        bulk_rows.insert_rows(conn, SUBJECTS, rows)
        ids = [i for (i,) in conn.execute(select(SUBJECTS.c.id).order_by(SUBJECTS.c.id))]
        bulk_rows.update_rows(conn, SUBJECTS, [{"id": i, "email": f"new-{i}"} for i in ids])
        session.commit()
    inserts = [s for s in statements if s.startswith("INSERT")]
    assert len(inserts) == (4 if _sqlite(deps) else 1)
    assert sorted(v[0] for v in _read(deps).values()) == sorted(f"new-{i}" for i in ids)


def test_ids_taken_follow_the_highest(deps: Deps) -> None:
    if not _sqlite(deps):
        pytest.skip("ids are taken only under SQLite's write lock")
    with deps.session() as session:
        conn = session.connection()
        assert bulk_rows.take_ids(conn, SUBJECTS, 3) == [1, 2, 3]
        bulk_rows.insert_rows(conn, SUBJECTS, [_row(1, id=41)])
        assert bulk_rows.take_ids(conn, SUBJECTS, 2) == [42, 43]


def _job(prop: Any, n: int, state: str) -> SaveJob:
    identity = VisitorIdentity(PROPERTY, f"group-{n}", None, "token:k1", 2**40)
    change = {"subscription": "newsletter", "channel": "email", "state": state}
    req = parse_save({"property": PROPERTY, "changes": [change]})
    ctx = ChoiceContext("widget", "token:k1", PROPERTY, ORIGIN, "en", "Mozilla/5.0 (test)")
    return SaveJob(identity=identity, prop=prop, req=req, ctx=ctx)


def test_a_group_of_saves_runs_as_many_statements_whatever_its_size(configured: Deps) -> None:
    """On SQLite every statement of a group is a hand-over of the GIL under the write lock: a
    group of eight known visitors runs no more statements than a group of two."""
    if not _sqlite(configured):
        pytest.skip("PostgreSQL sends executemany as one pipeline")
    with configured.session() as session:
        prop = property_snapshot(configured, session, PROPERTY)
    assert prop is not None
    engine = configured.sessions.kw["bind"]
    counts: dict[int, int] = {}
    for size in (2, 8):
        for state in ("subscribed", "unsubscribed"):  # the first round creates the people
            jobs = [_job(prop, n, state) for n in range(size)]
            statements: list[str] = []

            def count(*args: Any, into: list[str] = statements) -> None:
                into.append(args[2])

            event.listen(engine, "before_cursor_execute", count)
            try:
                write_group(configured, lambda jobs=jobs: jobs)
            finally:
                event.remove(engine, "before_cursor_execute", count)
            assert all(job.error is None and job.applied.changed == 1 for job in jobs)
        counts[size] = len(statements)
    assert counts[2] == counts[8], counts
