"""``optline profiles import``: counts, null removes, versions, per-line errors, flat memory."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from backend.db.models import Profile, Segment, SegmentMember
from backend.services.deps import Deps
from backend.services.profile_import import import_ndjson
from tests.integration.profile_sync.conftest import run_cli, write_lines


def line(external_id: str | None = None, email: str | None = None, **properties: Any) -> str:
    identifiers = {k: v for k, v in (("external_id", external_id), ("email", email)) if v}
    return json.dumps({"identifiers": identifiers, "properties": properties})


def profiles(deps: Deps) -> dict[str, Profile]:
    with deps.session() as session:
        rows = session.scalars(select(Profile).order_by(Profile.id)).all()
        return {p.external_id or p.email or "": p for p in rows}


def test_import_counts_and_errors_by_line_and_field(
    deps: Deps, cli_env: None, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "people.ndjson",
        [
            line("u1", "ann@example.com", tier="gold", points=10),  # 1 created
            line(email="bob@example.com", tier="silver"),  # 2 created
            line("u1", points=11),  # 3 updated
            line("u1", points=11, tier="gold"),  # 4 unchanged
            '{"identifiers": {"external_id": "u3"}',  # 5 invalid JSON
            '{"identifiers": {"external_id": "u4"}, "properties": {"points": NaN}}',  # 6 NaN
            "",  # 7 blank: skipped
            json.dumps(
                {
                    "identifiers": {"external_id": "u5"},
                    "properties": {"bio": "x\u0000y", "tags": ["a", None]},
                }
            ),  # 8 two fields
            line("u2", "BOB@example.com", tier="bronze"),  # 9 joins bob by email
        ],
    )
    result = run_cli("profiles", "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2 created, 2 updated, 1 unchanged, 3 failed"
    assert result.stderr.splitlines() == [
        "line 5: invalid JSON: Expecting ',' delimiter at column 38",
        "line 6: invalid JSON: NaN is not valid JSON",
        "line 8: properties.bio: must not contain NUL characters",
        "line 8: properties.tags[1]: lists must not contain null",
    ]
    stored = profiles(deps)
    assert set(stored) == {"u1", "u2"}
    assert stored["u1"].properties == {"tier": "gold", "points": 11}
    assert stored["u2"].email == "bob@example.com"  # normalised, and the same profile
    assert stored["u2"].properties == {"tier": "bronze"}


def test_null_removes_and_versions_grow_only_on_change(
    deps: Deps, cli_env: None, tmp_path: Path
) -> None:
    first = write_lines(tmp_path / "a.ndjson", [line("u1", tier="gold", points=1, city="Madrid")])
    assert run_cli("profiles", "import", str(first)).exit_code == 0
    before = profiles(deps)["u1"]
    assert before.version == 1

    same = write_lines(tmp_path / "b.ndjson", [line("u1", points=1.0)])  # 1.0 == 1
    result = run_cli("profiles", "import", str(same))
    assert result.stdout.strip() == "0 created, 0 updated, 1 unchanged, 0 failed"
    unchanged = profiles(deps)["u1"]
    assert (unchanged.version, unchanged.updated_at) == (before.version, before.updated_at)

    change = write_lines(tmp_path / "c.ndjson", [line("u1", city=None, points=2, missing=None)])
    result = run_cli("profiles", "import", str(change))
    assert result.stdout.strip() == "0 created, 1 updated, 0 unchanged, 0 failed"
    after = profiles(deps)["u1"]
    assert after.properties == {"tier": "gold", "points": 2}  # tier left alone, city removed
    assert after.version == 2
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at


def test_exit_status_two_when_every_line_failed(cli_env: None, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.ndjson", ["nope", '{"identifiers": {}}'])
    result = run_cli("profiles", "import", str(path))
    assert result.exit_code == 2
    assert result.stdout.strip() == "0 created, 0 updated, 0 unchanged, 2 failed"
    assert "line 2: identifiers: give at least one identifier" in result.stderr


def test_missing_file_is_one_line_and_exit_one(cli_env: None, tmp_path: Path) -> None:
    result = run_cli("profiles", "import", str(tmp_path / "nope.ndjson"))
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_standard_input(deps: Deps, cli_env: None) -> None:
    result = run_cli("profiles", "import", "-", stdin=line("u9", tier="gold") + "\n")
    assert result.exit_code == 0
    assert result.stdout.strip() == "1 created, 0 updated, 0 unchanged, 0 failed"
    assert "u9" in profiles(deps)


def test_help_documents_exit_status(cli_env: None) -> None:
    result = run_cli("profiles", "import", "--help")
    assert "2 when every line failed" in " ".join(result.output.split())


def test_imported_profiles_join_segments(configured: Deps, cli_env: None, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "p.ndjson",
        [
            line("u1", tier="gold", country="ES"),
            line("u2", tier="gold", country="FR"),
            line("u3", tier="silver", country="ES"),
        ],
    )
    assert run_cli("profiles", "import", str(path)).exit_code == 0
    with configured.session() as session:
        rows = session.execute(
            select(Profile.external_id, Segment.code)
            .join(SegmentMember, SegmentMember.profile_id == Profile.id)
            .join(Segment, Segment.id == SegmentMember.segment_id)
        ).all()
    assert sorted(rows) == [("u1", "vip"), ("u1", "vip-es")]
    # Leaving the segment is a change too (version grows, once).
    move = write_lines(tmp_path / "m.ndjson", [line("u1", country="MX")])
    assert run_cli("profiles", "import", str(move)).exit_code == 0
    u1 = profiles(configured)["u1"]
    assert u1.version == 2
    with configured.session() as session:
        codes = session.scalars(
            select(Segment.code)
            .join(SegmentMember, SegmentMember.segment_id == Segment.id)
            .where(SegmentMember.profile_id == u1.id)
        ).all()
    assert codes == ["vip"]


def test_a_line_naming_the_same_profile_twice_in_one_batch(deps: Deps) -> None:
    lines = [line("u1", a=1).encode(), line("u1", b=2).encode(), line("u1", a=None).encode()]
    summary = import_ndjson(deps, lines, batch_size=10)
    assert summary.text() == "1 created, 2 updated, 0 unchanged, 0 failed"
    stored = profiles(deps)["u1"]
    assert stored.properties == {"b": 2}
    assert stored.version == 1  # created in this batch: its first version


LINE = b'{"identifiers": {"external_id": "p%d"}, "properties": {"tier": "gold", "points": %d}}\n'


def generated(count: int) -> Iterator[bytes]:
    # 10 lines per person (10,000 people, each line changing "points"), and every 1,000th line
    # broken: results, errors and profiles stream past without piling up.
    for i in range(count):
        yield b'{"identifiers": {"external_id": \n' if i % 1000 == 999 else LINE % (i // 10, i % 10)


@pytest.mark.slow
def test_a_100k_line_import_stays_within_modest_memory(deps: Deps) -> None:
    errors: list[int] = []
    tracemalloc.start()
    try:
        summary = import_ndjson(deps, generated(100_000), on_error=lambda n, _m: errors.append(n))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.failed == 100 == len(errors)
    assert errors[:2] == [1000, 2000]
    assert summary.created == 10_000
    assert summary.updated == 100_000 - 100 - 10_000
    assert summary.unchanged == 0
    # The file is ~8 MB and makes 10,000 profiles; holding its lines, results or rows would
    # show here (the run holds one batch of 1,000 lines at a time).
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    with deps.session() as session:
        sample = session.scalars(select(Profile).where(Profile.external_id == "p42")).one()
    assert sample.properties == {"tier": "gold", "points": 9}
