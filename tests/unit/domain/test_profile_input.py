"""Profile input lines: identifiers, property values, errors named by field, merging."""

from __future__ import annotations

import json

import pytest

from backend.domain.errors import ValidationError
from backend.domain.profiles import (
    ProfileInput,
    apply_properties,
    parse_profile,
    parse_profile_line,
    same_json,
)


def test_a_full_line() -> None:
    line = json.dumps(
        {
            "identifiers": {"external_id": " u1 ", "email": "Ann@Example.COM", "braze_id": "b-1"},
            "properties": {
                "tier": "gold",
                "points": 10,
                "gone": None,
                "tags": ["a"],
                "o": {"k": 1},
            },
        }
    )
    parsed = parse_profile_line(line)
    assert parsed == ProfileInput(
        external_id="u1",
        email="ann@example.com",
        identifiers={"braze_id": "b-1"},
        properties={"tier": "gold", "points": 10, "gone": None, "tags": ["a"], "o": {"k": 1}},
    )


def test_numeric_external_ids_become_strings() -> None:
    assert parse_profile({"identifiers": {"external_id": 42}}).external_id == "42"


def messages(raw: object) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        if isinstance(raw, str):
            parse_profile_line(raw)
        else:
            parse_profile(raw)
    return [str(e) for e in caught.value.errors]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '{"identifiers": {"external_id": "u1"}, "properties": {"points": NaN}}',
            "invalid JSON: NaN is not valid JSON",
        ),
        ('{"identifiers": ', "invalid JSON: Expecting value at column 17"),
        ("[1, 2]", "expected an object with identifiers and properties, got a list"),
        ({"identifiers": {}}, "identifiers: give at least one identifier"),
        ({"properties": {"a": 1}}, "identifiers: expected an object"),
        ({"identifiers": {"external_id": ""}}, "identifiers.external_id: must not be empty"),
        (
            {"identifiers": {"external_id": ["u1"]}},
            "identifiers.external_id: expected a string, got a list",
        ),
        (
            {"identifiers": {"external_id": "x" * 256}},
            "identifiers.external_id: must be at most 255 characters",
        ),
        ({"identifiers": {"email": "not-an-email"}}, "identifiers.email: is not an email address"),
        (
            {"identifiers": {"Phone Number": "1"}},
            "identifiers.Phone Number: identifier names are lowercase",
        ),
        (
            {"identifiers": {"external_id": "u1"}, "properties": []},
            "properties: expected an object, got a list",
        ),
        (
            {"identifiers": {"external_id": "u1"}, "properties": {"points": float("inf")}},
            "properties.points: must be a finite number",
        ),
        (
            {"identifiers": {"external_id": "u1"}, "properties": {"bio": "a\x00b"}},
            "properties.bio: must not contain NUL characters",
        ),
        (
            {"identifiers": {"external_id": "u1"}, "properties": {"bio": "\ud800"}},
            "properties.bio: must be valid Unicode text",
        ),
        (
            {"identifiers": {"external_id": "u1"}, "properties": {"tags": ["a", None]}},
            "properties.tags[1]: lists must not contain null",
        ),
        (
            {"identifiers": {"external_id": "u1"}, "properties": {"": 1}},
            "properties.: names must be non-empty strings",
        ),
        (
            {"identifiers": {"external_id": "u1"}, "properties": {"o": {"k": float("nan")}}},
            "properties.o.k: must be a finite number",
        ),
        ({"identifiers": {"external_id": "u1"}, "extra": 1}, "extra: unknown key"),
    ],
)
def test_errors_name_the_field(raw: object, expected: str) -> None:
    found = messages(raw)
    assert any(m.startswith(expected) for m in found), found


def test_every_bad_field_is_reported_at_once() -> None:
    found = messages(
        {"identifiers": {"email": "x"}, "properties": {"a": float("nan"), "b": "\x00"}}
    )
    assert [m.split(":")[0] for m in found] == ["identifiers.email", "properties.a", "properties.b"]


def test_nesting_is_bounded() -> None:
    deep: object = 1
    for _ in range(10):
        deep = [deep]
    found = messages({"identifiers": {"external_id": "u1"}, "properties": {"d": deep}})
    assert any("nested more than" in m for m in found)


def test_apply_properties_sets_removes_and_leaves_alone() -> None:
    current = {"a": 1, "b": "x", "c": [1]}
    assert apply_properties(current, {"a": 2, "b": None, "d": True}) == {
        "a": 2,
        "c": [1],
        "d": True,
    }
    assert apply_properties(current, {"a": 1, "c": [1], "missing": None}) is None
    assert apply_properties(current, {"a": 1.0}) is None  # the same number
    assert apply_properties(current, {"a": True}) == {"a": True, "b": "x", "c": [1]}
    assert apply_properties({}, {}) is None


def test_same_json() -> None:
    assert same_json({"a": [1, {"b": 2}]}, {"a": [1.0, {"b": 2}]})
    assert not same_json(1, True)
    assert not same_json([1], [1, 2])
    assert not same_json({"a": 1}, {"a": 1, "b": 2})
    assert not same_json("1", 1)
    assert not same_json([1], {"0": 1})
