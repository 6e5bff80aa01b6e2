"""Segment memberships: set-based refresh on rule changes, cascades, static lists, versions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from backend.db.models import Profile, Segment, SegmentMember
from backend.domain.errors import ConflictError, ValidationError
from backend.domain.profiles import ProfileInput
from backend.services.configuration import apply_configuration, delete_object, put_object
from backend.services.deps import Deps
from backend.services.profiles import upsert_profiles
from backend.services.segments import load_definitions, refresh_one_segment

PEOPLE = [
    ("u1", {"tier": "gold", "country": "ES", "points": 50}),
    ("u2", {"tier": "gold", "country": "MX", "points": 500}),
    ("u3", {"tier": "gold", "country": "FR"}),
    ("u4", {"tier": "silver", "country": "ES", "points": 5}),
    ("u5", {}),
]


def seed(deps: Deps) -> None:
    upsert_profiles(deps, [ProfileInput(external_id=e, properties=p) for e, p in PEOPLE])


def members(deps: Deps) -> dict[str, list[str]]:
    with deps.session() as session:
        rows = session.execute(
            select(Segment.code, Profile.external_id)
            .join(SegmentMember, SegmentMember.segment_id == Segment.id)
            .join(Profile, Profile.id == SegmentMember.profile_id)
        ).all()
    result: dict[str, list[str]] = {}
    for code, external_id in rows:
        result.setdefault(code, []).append(external_id)
    return {code: sorted(ids) for code, ids in result.items()}


def versions(deps: Deps) -> dict[str, int]:
    with deps.session() as session:
        return dict(session.execute(select(Profile.external_id, Profile.version)).all())


def segment(code: str, rule: Any) -> dict[str, Any]:
    return {"code": code, "name": code.upper(), "rule": rule}


def apply(deps: Deps, *segments: dict[str, Any]) -> Any:
    return apply_configuration(
        deps, {"segments": list(segments)}, dry_run=False, prune=False, actor="test"
    )


VIP = segment(
    "vip",
    {
        "all": [
            {"property": "tier", "op": "eq", "value": "gold"},
            {"property": "country", "op": "in", "value": ["ES", "MX"]},
        ]
    },
)
VIP_ES = segment(
    "vip-es", {"all": [{"segment": "vip"}, {"property": "country", "op": "eq", "value": "ES"}]}
)


def test_creating_segments_computes_members_of_existing_profiles(deps: Deps) -> None:
    seed(deps)
    before = versions(deps)
    apply(deps, VIP_ES, VIP)  # the dependent first: order in the file does not matter
    assert members(deps) == {"vip": ["u1", "u2"], "vip-es": ["u1"]}
    after = versions(deps)
    assert {k for k in after if after[k] != before[k]} == {"u1", "u2"}
    assert after["u1"] >= before["u1"] + 1


def test_changing_a_rule_moves_only_the_affected_profiles_and_cascades(deps: Deps) -> None:
    seed(deps)
    apply(deps, VIP, VIP_ES)
    before = versions(deps)
    wider = segment(
        "vip",
        {
            "all": [
                {"property": "tier", "op": "eq", "value": "gold"},
                {"property": "country", "op": "in", "value": ["ES", "FR"]},
            ]
        },
    )
    apply(deps, wider, VIP_ES)
    assert members(deps) == {"vip": ["u1", "u3"], "vip-es": ["u1"]}
    after = versions(deps)
    assert after["u2"] == before["u2"] + 1  # left vip
    assert after["u3"] == before["u3"] + 1  # joined vip
    assert after["u1"] == before["u1"]  # no change
    assert after["u4"] == before["u4"]
    report = apply(deps, wider, VIP_ES)
    assert report.lines()[-1] == "0 created, 0 changed, 2 unchanged, 0 deleted"
    assert versions(deps) == after  # re-applying the same rule touches nothing


def test_membership_of_a_dependency_propagates_to_dependents(deps: Deps) -> None:
    seed(deps)
    apply(deps, VIP, VIP_ES)
    upsert_profiles(deps, [ProfileInput(external_id="u4", properties={"tier": "gold"})])
    assert members(deps)["vip-es"] == ["u1", "u4"]
    upsert_profiles(deps, [ProfileInput(external_id="u1", properties={"tier": None})])
    assert members(deps) == {"vip": ["u2", "u4"], "vip-es": ["u4"]}


def test_static_lists_include_profiles_created_later(deps: Deps) -> None:
    seed(deps)
    apply(
        deps, {"code": "testers", "name": "Testers", "static": True, "members": ["u2", "u9", "u1"]}
    )
    assert members(deps) == {"testers": ["u1", "u2"]}
    upsert_profiles(deps, [ProfileInput(external_id="u9", properties={"a": 1})])
    assert members(deps) == {"testers": ["u1", "u2", "u9"]}
    apply(deps, {"code": "testers", "name": "Testers", "static": True, "members": ["u9"]})
    assert members(deps) == {"testers": ["u9"]}


def test_deleting_a_segment_bumps_its_members(deps: Deps) -> None:
    seed(deps)
    apply(deps, VIP)
    before = versions(deps)
    delete_object(deps, "segments", "vip", actor="test")
    after = versions(deps)
    assert members(deps) == {}
    assert {k for k in after if after[k] != before[k]} == {"u1", "u2"}


def test_a_segment_used_by_another_cannot_be_deleted(deps: Deps) -> None:
    apply(deps, VIP, VIP_ES)
    with pytest.raises(ConflictError, match="vip-es"):
        delete_object(deps, "segments", "vip", actor="test")


def test_cycles_are_refused_and_nothing_is_written(deps: Deps) -> None:
    seed(deps)
    a = segment("a", {"any": [{"segment": "b"}, {"property": "tier", "op": "eq", "value": "gold"}]})
    b = segment("b", {"segment": "a"})
    with pytest.raises(ValidationError, match="cycle"):
        apply(deps, a, b)
    with deps.session() as session:
        assert session.scalar(select(func.count()).select_from(Segment)) == 0
        assert session.scalar(select(func.count()).select_from(SegmentMember)) == 0
    with pytest.raises(ValidationError, match="itself"):
        put_object(deps, "segments", segment("self", {"segment": "self"}), actor="test")


def test_sql_and_python_refreshes_agree(deps: Deps) -> None:
    seed(deps)
    rich = segment(
        "rich",
        {
            "any": [
                {"property": "points", "op": "gte", "value": 50},
                {
                    "all": [
                        {"not": {"property": "country", "op": "exists"}},
                        {"property": "tier", "op": "ne", "value": "gold"},
                    ]
                },
            ]
        },
    )
    apply(deps, rich)
    by_sql = members(deps)
    with deps.session() as session:
        session.execute(SegmentMember.__table__.delete())
    with deps.session() as session:
        defs = load_definitions(session)
        result = refresh_one_segment(
            session, defs["rich"], defs, now=deps.clock(), force_python=True
        )
    assert result.added == len(by_sql["rich"])
    assert members(deps) == by_sql == {"rich": ["u1", "u2", "u5"]}


def test_refresh_and_members_api(deps: Deps, client: Any, auth: dict[str, str]) -> None:
    seed(deps)
    apply(deps, VIP, VIP_ES)
    with deps.session() as session:
        session.execute(SegmentMember.__table__.delete())
    response = client.post("/api/admin/v1/segments/vip/refresh", headers=auth)
    assert response.status_code == 200
    assert response.get_json()["refreshed"] == [
        {"segment": "vip", "added": 2, "removed": 0},
        {"segment": "vip-es", "added": 1, "removed": 0},
    ]
    listing = client.get("/api/admin/v1/segments/vip/members?limit=1", headers=auth).get_json()
    assert listing["count"] == 2
    assert [m["external_id"] for m in listing["members"]] == ["u1"]
    assert client.post("/api/admin/v1/segments/nope/refresh", headers=auth).status_code == 404
