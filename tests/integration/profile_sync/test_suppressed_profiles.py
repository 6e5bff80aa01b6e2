"""People who asked for erasure are not brought back by the NDJSON import or the ingest API."""

from __future__ import annotations

from sqlalchemy import func, select

from backend.db.models import Profile
from backend.domain.profiles import ProfileInput
from backend.services.deps import Deps
from backend.services.profile_import import import_ndjson
from backend.services.profile_writes import upsert_profiles
from backend.services.suppressions import suppress


def test_suppressed_people_are_skipped_and_others_created(deps: Deps) -> None:
    with deps.session() as session:
        suppress(deps, session, external_ids=["erased-1"], emails=["gone@example.com"])
    results = upsert_profiles(
        deps,
        [
            ProfileInput(external_id="erased-1", properties={"tier": "gold"}),
            ProfileInput(email="GONE@example.com"),
            ProfileInput(external_id="kept-1", properties={"tier": "gold"}),
        ],
    )
    assert [r.status for r in results] == ["skipped", "skipped", "created"]
    with deps.session() as session:
        assert session.scalar(select(func.count()).select_from(Profile)) == 1


def test_the_ndjson_import_reports_skipped_lines(deps: Deps) -> None:
    with deps.session() as session:
        suppress(deps, session, external_ids=["erased-2"])
    errors: list[tuple[int, str]] = []
    lines = [
        b'{"identifiers": {"external_id": "erased-2"}, "properties": {"a": 1}}\n',
        b'{"identifiers": {"external_id": "fresh-2"}, "properties": {"a": 1}}\n',
    ]
    summary = import_ndjson(deps, lines, on_error=lambda n, m: errors.append((n, m)))
    assert (summary.created, summary.skipped) == (1, 1)
    assert errors == [(1, "suppressed: this person's data was erased")]
    assert "1 skipped (erased people)" in summary.text()
