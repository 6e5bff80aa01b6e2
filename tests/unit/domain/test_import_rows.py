"""Import goal rules: what is asked of Braze, how rows are keyed, hashed and merged."""

from __future__ import annotations

import pytest

from backend.domain.errors import ValidationError
from backend.domain.import_rows import (
    braze_value,
    merge_row,
    parse_rows,
    plan_import,
    row_hash,
    row_identifiers,
    row_key,
)
from backend.domain.merge import MISSING

IDS = [{"braze": "external_id", "profile": "external_id"}, {"braze": "email", "profile": "email"}]
MAPPINGS = [
    {"braze": "first_name", "profile": "first_name", "strategy": "set_if_empty"},
    {"braze": "loyalty_points", "profile": "points", "strategy": "sum"},
    {"braze": "interests", "profile": "interests", "strategy": "add"},
]


def plan(remaining: dict[str, object] | None = None, allow_create: bool = True):  # type: ignore[no-untyped-def]
    return plan_import(IDS, MAPPINGS, remaining, allow_create=allow_create)


def test_fields_asked_of_braze_split_standard_fields_from_custom_attributes() -> None:
    p = plan()
    assert p.fields_to_export == ["braze_id", "external_id", "email", "first_name"]
    assert p.custom_attributes_to_export == ["loyalty_points", "interests"]
    with_rest = plan({"enabled": True, "prefix": "braze_", "strategy": "set"})
    assert with_rest.fields_to_export[-1] == "custom_attributes"
    assert with_rest.custom_attributes_to_export == []  # custom_attributes exports them all


def test_bad_definitions_are_refused_with_every_problem_named() -> None:
    with pytest.raises(ValidationError) as info:
        plan_import(
            [{"braze": "alias", "profile": ""}],
            [{"braze": "x", "profile": "y", "strategy": "append"}],
            {"enabled": True, "strategy": "nope"},
            allow_create=False,
        )
    text = str(info.value)
    assert "identifiers[0].braze" in text and "identifiers[0].profile" in text
    assert "mappings[0].strategy" in text and "remaining_fields.strategy" in text


def test_values_are_read_from_top_level_then_custom_attributes() -> None:
    row = {"first_name": "Ann", "custom_attributes": {"tier": "gold", "first_name": "shadow"}}
    assert braze_value(row, "first_name") == "Ann"
    assert braze_value(row, "tier") == "gold"
    assert braze_value(row, "missing") is MISSING


def test_row_key_prefers_braze_id_and_identifiers_follow_goal_order() -> None:
    row = {"braze_id": "b1", "external_id": "u1", "email": "Ann@Example.com"}
    assert row_key(row) == "b:b1"
    assert row_key({"external_id": "u1"}) == "x:u1"
    assert row_key({}) is None
    assert row_identifiers(plan(), row) == [("external_id", "u1"), ("email", "ann@example.com")]


def test_row_hash_depends_on_content_and_goal_definition() -> None:
    line = b'{"external_id":"u1","first_name":"Ann"}\n'
    assert row_hash(plan(), line) == row_hash(plan(), line.strip())
    assert row_hash(plan(), line) != row_hash(plan(), line.replace(b"Ann", b"Anna"))
    other = plan({"enabled": True, "prefix": "b_", "strategy": "set"})
    assert row_hash(plan(), line) != row_hash(other, line)


def test_merge_row_applies_each_strategy_and_remaining_fields_with_prefix() -> None:
    p = plan({"enabled": True, "prefix": "braze_", "strategy": "set"})
    row = {
        "external_id": "u1",
        "first_name": "Ann",
        "custom_attributes": {"loyalty_points": 40, "interests": ["ski", "golf"], "tier": "gold"},
    }
    merged = merge_row(p, row, {"first_name": "Bo", "points": 100, "interests": ["golf"]}, {})
    assert merged.properties == {
        "first_name": "Bo",
        "points": 140,
        "interests": ["golf", "ski"],
        "braze_tier": "gold",
    }
    assert merged.sum_memory == {"points": 40}
    assert set(merged.changed) == {"points", "interests", "braze_tier"}
    again = merge_row(p, row, merged.properties, merged.sum_memory)
    assert not again.profile_changed
    assert again.properties == merged.properties


def test_parse_rows_decodes_keys_and_hashes_and_names_each_bad_line() -> None:
    p = plan()
    lines = [
        ("f:1", b'{"external_id": "u1", "first_name": "Ann"}\n'),
        ("f:2", b"{not json"),
        ("f:3", b'{"first_name": "nobody"}'),
        ("f:4", b'["a list"]'),
        ("f:5", b'{"braze_id": "b5", "n": 18446744073709551616}'),
    ]
    parsed = parse_rows(p, lines)
    assert parsed.counts == {"checked": 5, "failed": 1, "skipped": 2}
    assert parsed.errors == [
        {"row_ref": "f:2", "message": "line is not valid JSON"},
        {"row_ref": "f:3", "message": "row names no Braze user"},
        {"row_ref": "f:4", "message": "row names no Braze user"},
    ]
    assert [(ref, key) for ref, key, _, _ in parsed.rows] == [("f:1", "x:u1"), ("f:5", "b:b5")]
    assert parsed.rows[0][2] == row_hash(p, lines[0][1])
    assert parsed.rows[1][3]["n"] == 18446744073709551616  # an integer, as json reads it
