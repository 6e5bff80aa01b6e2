"""The ``segments`` and ``sync_connections`` sections through apply, export and the admin API."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from backend.db.models import (
    AuditEntry,
    ExportGoal,
    ImportGoal,
    Segment,
    SyncConnection,
)
from backend.domain.config_sync_goals import SOURCES, STRATEGIES
from backend.domain.errors import ValidationError
from backend.services.configuration import apply_configuration, export_configuration
from backend.services.deps import Deps
from tests.integration.profile_sync.conftest import CONFIG, config, run_cli


def counts(deps: Deps) -> tuple[int, ...]:
    with deps.session() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Segment, SyncConnection, ImportGoal, ExportGoal, AuditEntry)
        )


def sync_connection(**changes: Any) -> dict[str, Any]:
    entry = copy.deepcopy(CONFIG["sync_connections"][0])
    entry.update(changes)
    return entry


def with_import_goal(**changes: Any) -> dict[str, Any]:
    goal = copy.deepcopy(CONFIG["sync_connections"][0]["import_goals"][0])
    goal.update(changes)
    return sync_connection(import_goals=[goal])


def with_export_goal(**changes: Any) -> dict[str, Any]:
    goal = copy.deepcopy(CONFIG["sync_connections"][0]["export_goals"][0])
    goal.update(changes)
    return sync_connection(export_goals=[goal])


P = "sync_connections[0]"
INVALID = [
    (
        with_import_goal(
            mappings=[
                {"braze": "a", "profile": "a"},
                {"braze": "b", "profile": "b"},
                {"braze": "c", "profile": "c", "strategy": "replace"},
            ]
        ),
        f"{P}.import_goals[0].mappings[2].strategy: "
        "must be one of set, add, sum, set_if_empty, clear",
    ),
    (
        with_import_goal(braze_segment_id="segment one"),
        f"{P}.import_goals[0].braze_segment_id: 'segment one' is not valid",
    ),
    (with_import_goal(identifiers=[]), f"{P}.import_goals[0].identifiers: link at least one"),
    (
        with_import_goal(identifiers=[{"braze": "user_id", "profile": "external_id"}]),
        f"{P}.import_goals[0].identifiers[0].braze: must be one of external_id, email",
    ),
    (
        with_import_goal(mappings=[{"braze": "a", "profile": "p"}, {"braze": "b", "profile": "p"}]),
        f"{P}.import_goals[0].mappings[1].profile: 'p' is already the target of",
    ),
    (
        with_import_goal(remaining_fields={"enabled": True, "prefix": "braze ", "strategy": "set"}),
        f"{P}.import_goals[0].remaining_fields.prefix: 'braze ' is not valid",
    ),
    (
        with_import_goal(allow_create="yes"),
        f"{P}.import_goals[0].allow_create: expected true or false",
    ),
    (with_export_goal(segment="nope"), f"{P}.export_goals[0].segment: unknown segment 'nope'"),
    (
        with_export_goal(mappings=[{"source": "formula", "braze": "x"}]),
        f"{P}.export_goals[0].mappings[0].source: must be one of property, identifier",
    ),
    (
        with_export_goal(mappings=[{"source": "property", "braze": "x"}]),
        f"{P}.export_goals[0].mappings[0].name: required",
    ),
    (
        with_export_goal(mappings=[{"source": "static", "braze": "x"}]),
        f"{P}.export_goals[0].mappings[0].value: required",
    ),
    (
        with_export_goal(mappings=[{"source": "segments", "name": "x", "braze": "s"}]),
        f"{P}.export_goals[0].mappings[0].name: only property and identifier mappings take a name",
    ),
    (
        with_export_goal(
            mappings=[{"source": "segments", "braze": "s"}, {"source": "permissions", "braze": "s"}]
        ),
        f"{P}.export_goals[0].mappings[1].braze: 's' is already mapped",
    ),
    (
        with_export_goal(destinations={"braze": False, "s3_cdi": False}),
        f"{P}.export_goals[0].destinations: turn on at least one",
    ),
    (
        sync_connection(braze_connection="nope"),
        f"{P}.braze_connection: unknown Braze connection 'nope'",
    ),
    (
        sync_connection(schedule={"times_per_day": 97}),
        f"{P}.schedule.times_per_day: must be between 1 and 96",
    ),
    (
        sync_connection(schedule={"days": ["mon", "someday"], "at": "06:30"}),
        f"{P}.schedule.days[1]: 'someday' is not one of",
    ),
    (
        sync_connection(schedule={"day_of_month": 31, "at": "02:00"}),
        f"{P}.schedule.day_of_month: must be between 1 and 28",
    ),
    (
        sync_connection(schedule={"times_per_day": 4, "timezone": "Europe/Atlantis"}),
        f"{P}.schedule.timezone: 'Europe/Atlantis' is not an IANA timezone",
    ),
    (
        sync_connection(notify={"emails": ["ops"], "on": ["failure"]}),
        f"{P}.notify.emails[0]: 'ops' is not an email address",
    ),
    (sync_connection(notify={"on": ["always"]}), f"{P}.notify.on[0]: 'always' is not one of"),
    (
        sync_connection(notify={"webhook": "ftp://hooks.example.com"}),
        f"{P}.notify.webhook: is not an http(s) URL",
    ),
    (
        sync_connection(notify={"webhook": "<redacted>"}),
        f"{P}.notify.webhook: give the URL; a redacted value only keeps an existing one",
    ),
    (
        sync_connection(
            export_goals=[
                {**CONFIG["sync_connections"][0]["export_goals"][0], "code": "braze-loyalty"}
            ]
        ),
        f"{P}.export_goals[0].code: duplicate goal code 'braze-loyalty'",
    ),
    (sync_connection(enabled="on"), f"{P}.enabled: expected true or false"),
    (sync_connection(interval=5), f"{P}.interval: unknown key"),
]


@pytest.mark.parametrize(("entry", "expected"), INVALID)
def test_invalid_sync_connections_are_rejected_by_path_and_nothing_is_written(
    deps: Deps, entry: dict[str, Any], expected: str
) -> None:
    before = counts(deps)
    with pytest.raises(ValidationError) as caught:
        apply_configuration(
            deps, config(sync_connections=[entry]), dry_run=False, prune=False, actor="test"
        )
    messages = [str(e) for e in caught.value.errors]
    assert any(m.startswith(expected) for m in messages), messages
    assert counts(deps) == before


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"code": "s", "name": "S", "rule": {"all": [{"property": "a", "op": "like"}]}},
            "segments[0].rule.all[0].op: 'like' is not one of",
        ),
        ({"code": "s", "name": "S"}, "segments[0].rule: required"),
        (
            {"code": "s", "name": "S", "static": True, "members": ["u1", "u1"]},
            "segments[0].members[1]: duplicate 'u1'",
        ),
        (
            {"code": "s", "name": "S", "static": True, "rule": {"all": []}},
            "segments[0].rule: a static segment lists its members",
        ),
        (
            {"code": "s", "name": "S", "members": ["u1"], "rule": {"all": []}},
            "segments[0].members: only a static segment",
        ),
        (
            {"code": "s", "name": "S", "rule": {"all": [{"segment": "ghost"}]}},
            "segments[0].rule.all[0].segment: unknown segment 'ghost'",
        ),
    ],
)
def test_invalid_segments_are_rejected_by_path(
    deps: Deps, entry: dict[str, Any], expected: str
) -> None:
    before = counts(deps)
    with pytest.raises(ValidationError) as caught:
        apply_configuration(
            deps, config(segments=[entry]), dry_run=False, prune=False, actor="test"
        )
    messages = [str(e) for e in caught.value.errors]
    assert any(m.startswith(expected) for m in messages), messages
    assert counts(deps) == before


def test_round_trip_apply_export_apply_is_unchanged(configured: Deps) -> None:
    exported = export_configuration(configured)
    assert [s["code"] for s in exported["segments"]] == ["vip", "vip-es"]
    (conn,) = exported["sync_connections"]
    assert conn["notify"] == {"emails": ["ops@acme.com"], "on": ["failure"], "webhook": None}
    assert conn["import_goals"][0]["mappings"][1] == {
        "braze": "loyalty_points",
        "profile": "points",
        "strategy": "sum",
    }
    assert conn["export_goals"][0]["destinations"] == {"braze": True, "s3_cdi": False}
    report = apply_configuration(configured, exported, dry_run=False, prune=False, actor="test")
    assert all(c.action == "unchanged" for c in report.changes), report.lines()
    assert export_configuration(configured) == exported


def test_webhook_is_a_secret_kept_through_the_round_trip(deps: Deps) -> None:
    hooked = sync_connection(
        notify={
            "emails": [],
            "on": ["success", "failure"],
            "webhook": "https://hooks.example.com/T0/secret-token",
        }
    )
    apply_configuration(
        deps, config(sync_connections=[hooked]), dry_run=False, prune=False, actor="test"
    )
    exported = export_configuration(deps)
    assert exported["sync_connections"][0]["notify"]["webhook"] == "<redacted>"
    with deps.session() as session:
        stored = session.scalars(select(SyncConnection)).one().notify
    assert "secret-token" not in str(stored)
    report = apply_configuration(deps, exported, dry_run=False, prune=False, actor="test")
    assert all(c.action == "unchanged" for c in report.changes)


def test_changes_report_fields_and_goals_follow_the_file(configured: Deps) -> None:
    entry = sync_connection(enabled=False, import_goals=[])
    report = apply_configuration(
        configured, config(sync_connections=[entry]), dry_run=False, prune=False, actor="test"
    )
    changed = [c for c in report.changes if c.section == "sync_connections"]
    assert changed[0].action == "changed"
    assert changed[0].fields == ("enabled", "import_goals")
    with configured.session() as session:
        assert session.scalar(select(func.count()).select_from(ImportGoal)) == 0
        goal = session.scalars(select(ExportGoal)).one()
        assert len(goal.definition_hash) == 64


def test_cli_export_then_apply_round_trip(configured: Deps, cli_env: None, tmp_path: Path) -> None:
    exported = run_cli("config", "export")
    assert exported.exit_code == 0, exported.output
    path = tmp_path / "config.yaml"
    path.write_text(exported.stdout, encoding="utf-8")
    document = yaml.safe_load(exported.stdout)
    assert document["sync_connections"][0]["schedule"] == {"times_per_day": 4}
    applied = run_cli("apply", str(path))
    assert applied.exit_code == 0, applied.output
    assert (
        applied.stdout.strip()
        .splitlines()[-1]
        .endswith(f"0 created, 0 changed, {_objects(document)} unchanged, 0 deleted")
    )


def _objects(document: dict[str, Any]) -> int:
    return sum(len(v or []) for v in document.values())


def test_admin_api_serves_the_new_kinds(
    configured: Deps, client: Any, auth: dict[str, str]
) -> None:
    listing = client.get("/api/admin/v1/sync_connections", headers=auth).get_json()
    assert listing["sync_connections"][0]["code"] == "braze-profiles"
    bad = sync_connection(schedule={"days": ["mon"], "at": "25:00"})
    response = client.put("/api/admin/v1/sync_connections/braze-profiles", json=bad, headers=auth)
    assert response.status_code == 400
    paths = [f["path"] for f in response.get_json()["error"]["details"]["fields"]]
    assert paths == ["schedule.at"]
    segment = client.get("/api/admin/v1/segments/vip", headers=auth).get_json()
    assert segment["rule"]["all"][0] == {"property": "tier", "op": "eq", "value": "gold"}


def test_vocabularies_match_the_engines() -> None:
    from backend.domain import export_delta, merge

    assert set(STRATEGIES) == set(merge.STRATEGIES)
    assert set(SOURCES) == set(export_delta.SOURCES)
