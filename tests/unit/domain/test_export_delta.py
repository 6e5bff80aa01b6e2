"""Export deltas: only changed fields, nulls for vanished ones, identity changes resend all."""

from __future__ import annotations

from typing import Any

import pytest

from backend.domain.cdi import cdi_line, cdi_part_key, cdi_row
from backend.domain.errors import ValidationError
from backend.domain.export_delta import (
    IDENTITY_KEY,
    DeltaPlanner,
    ProfileView,
    attribute_of,
    definition_hash,
    plan_export,
    value_hash,
)

IDS = [{"profile": "external_id", "braze": "external_id"}, {"profile": "email", "braze": "email"}]
MAPPINGS: list[dict[str, Any]] = [
    {"source": "property", "name": "tier", "braze": "tier"},
    {"source": "property", "name": "points", "braze": "points"},
    {"source": "segments", "braze": "optline_segments"},
    {"source": "permissions", "braze": "optline_permissions"},
    {"source": "interactions", "braze": "optline_interactions"},
    {"source": "identifier", "name": "email", "braze": "contact_email"},
    {"source": "static", "value": "optline", "braze": "source_system"},
]


def view(**changes: Any) -> ProfileView:
    base: dict[str, Any] = {
        "id": 7, "version": 3, "external_id": "u7", "email": "u7@example.com", "identifiers": {},
        "properties": {"tier": "gold", "points": 12}, "interactions": ["widget_view"],
        "segments": ["vip", "all"], "permissions": ["news.email"],
    }  # fmt: skip
    base.update(changes)
    return ProfileView(**base)


@pytest.fixture
def planner() -> DeltaPlanner:
    return DeltaPlanner(plan_export(IDS, MAPPINGS, create_if_missing=False))


def test_a_new_member_gets_every_mapped_field(planner: DeltaPlanner) -> None:
    delta = planner.delta(view(), None)
    assert delta.obj == {
        "external_id": "u7",
        "_update_existing_only": True,
        "tier": "gold",
        "points": 12,
        "optline_segments": ["all", "vip"],
        "optline_permissions": ["news.email"],
        "optline_interactions": ["widget_view"],
        "contact_email": "u7@example.com",
        "source_system": "optline",
    }
    assert set(delta.hashes) == {IDENTITY_KEY, *[m["braze"] for m in MAPPINGS]}


def test_only_changed_fields_are_sent_and_vanished_ones_as_null(planner: DeltaPlanner) -> None:
    acked = planner.delta(view(), None).hashes
    assert planner.delta(view(version=4), acked).obj is None
    changed = planner.delta(view(properties={"tier": "silver"}), acked)
    assert changed.obj == {
        "external_id": "u7",
        "_update_existing_only": True,
        "tier": "silver",
        "points": None,
    }
    assert "points" not in changed.hashes
    assert changed.changed_fields == ["tier", "points"]
    after = planner.delta(view(properties={"tier": "silver"}), changed.hashes)
    assert after.obj is None


def test_another_braze_user_gets_everything_again(planner: DeltaPlanner) -> None:
    acked = planner.delta(view(), None).hashes
    moved = planner.delta(view(external_id="u8"), acked)
    assert moved.obj is not None and moved.obj["external_id"] == "u8"
    assert len(moved.changed_fields) == len(MAPPINGS)


def test_identifier_fallback_and_skip(planner: DeltaPlanner) -> None:
    by_email = planner.delta(view(external_id=None), None)
    assert by_email.obj is not None and by_email.obj["email"] == "u7@example.com"
    assert planner.delta(view(external_id=None, email=None), None).skipped


def test_create_if_missing_flips_update_existing_only() -> None:
    planner = DeltaPlanner(plan_export(IDS, MAPPINGS[:1], create_if_missing=True))
    delta = planner.delta(view(), None)
    assert delta.obj is not None and delta.obj["_update_existing_only"] is False


def test_definitions_are_validated_and_hashed() -> None:
    with pytest.raises(ValidationError) as info:
        plan_export([], [{"source": "weird", "braze": "_x"}], create_if_missing=False)
    assert "identifiers" in str(info.value) and "mappings[0].source" in str(info.value)
    one = definition_hash("vip", IDS, False, MAPPINGS)
    assert one == definition_hash("vip", IDS, False, MAPPINGS)
    assert one != definition_hash("vip", IDS, True, MAPPINGS)


def test_value_hash_is_stable_and_type_aware() -> None:
    assert value_hash("1") != value_hash(1)
    assert value_hash({"a": 1, "b": 2}) == value_hash({"b": 2, "a": 1})


def test_error_sentences_name_the_attribute() -> None:
    obj = {"external_id": "u1", "email": "bad", "tier": "x"}
    assert attribute_of(obj, "The value provided for the 'email' field is not a valid email.") == (
        "email"
    )
    assert attribute_of(obj, "something else") is None


def test_cdi_rows_carry_one_identifier_and_a_payload_string() -> None:
    obj = {"external_id": "u1", "_update_existing_only": True, "tier": "gold", "points": None}
    assert cdi_row(obj) == {"external_id": "u1", "payload": '{"tier":"gold","points":null}'}
    assert cdi_line(obj).endswith(b"\n")
    assert cdi_row({"email": "a@b.co", "x": 1})["email"] == "a@b.co"
    with pytest.raises(ValueError, match="identifier"):
        cdi_row({"x": 1})
    assert cdi_part_key("optline/", "vip", 9, 3) == "optline/cdi/vip/9/part-0003.ndjson.gz"
