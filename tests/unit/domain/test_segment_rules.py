"""Segment rules: every operator, nesting, membership, validation messages by path, ordering."""

from __future__ import annotations

from typing import Any

import pytest

from backend.domain.config_schema import Problems
from backend.domain.errors import ValidationError
from backend.domain.segment_rules import (
    AllOf,
    Condition,
    InSegment,
    dependents_of,
    evaluate,
    evaluation_order,
    find_cycle,
    parse_rule,
    referenced_segments,
    rule_to_dict,
    validate_rule,
)

PROFILE: dict[str, Any] = {
    "tier": "gold",
    "points": 120,
    "ratio": 0.5,
    "active": True,
    "country": "ES",
    "interests": ["shoes", "bags", 3, True],
    "bio": "loves running shoes",
    "nested": {"a": 1},
}


def matches(
    rule: dict[str, Any], props: dict[str, Any] | None = None, segments: set[str] | None = None
) -> bool:
    return evaluate(validate_rule(rule), PROFILE if props is None else props, segments or set())


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"property": "tier", "op": "eq", "value": "gold"}, True),
        ({"property": "tier", "op": "eq", "value": "Gold"}, False),
        ({"property": "points", "op": "eq", "value": 120.0}, True),  # 120 == 120.0
        ({"property": "points", "op": "eq", "value": "120"}, False),  # typed
        ({"property": "active", "op": "eq", "value": True}, True),
        ({"property": "active", "op": "eq", "value": 1}, False),  # true is not 1
        ({"property": "missing", "op": "eq", "value": "x"}, False),
        ({"property": "interests", "op": "eq", "value": "shoes"}, False),  # a list is not a scalar
        ({"property": "tier", "op": "ne", "value": "silver"}, True),
        ({"property": "tier", "op": "ne", "value": "gold"}, False),
        ({"property": "missing", "op": "ne", "value": "gold"}, True),  # missing differs
        ({"property": "country", "op": "in", "value": ["ES", "MX"]}, True),
        ({"property": "country", "op": "in", "value": ["FR"]}, False),
        ({"property": "points", "op": "in", "value": [1, 120.0]}, True),
        ({"property": "missing", "op": "in", "value": ["ES"]}, False),
        ({"property": "country", "op": "not_in", "value": ["FR"]}, True),
        ({"property": "country", "op": "not_in", "value": ["ES"]}, False),
        ({"property": "missing", "op": "not_in", "value": ["ES"]}, True),
        ({"property": "tier", "op": "exists"}, True),
        ({"property": "tier", "op": "exists", "value": True}, True),
        ({"property": "missing", "op": "exists"}, False),
        ({"property": "missing", "op": "exists", "value": False}, True),
        ({"property": "tier", "op": "exists", "value": False}, False),
        ({"property": "points", "op": "gt", "value": 100}, True),
        ({"property": "points", "op": "gt", "value": 120}, False),
        ({"property": "points", "op": "gte", "value": 120}, True),
        ({"property": "points", "op": "lt", "value": 120.5}, True),
        ({"property": "points", "op": "lte", "value": 119}, False),
        ({"property": "ratio", "op": "lt", "value": 1}, True),
        ({"property": "tier", "op": "gt", "value": 5}, False),  # string vs number: no match
        ({"property": "points", "op": "gt", "value": "100"}, False),  # number vs string
        ({"property": "tier", "op": "gt", "value": "gold"}, False),
        ({"property": "tier", "op": "gte", "value": "gold"}, True),
        ({"property": "tier", "op": "lt", "value": "silver"}, True),  # code point order
        ({"property": "tier", "op": "lt", "value": "Zebra"}, False),  # 'g' > 'Z'
        ({"property": "active", "op": "gt", "value": 0}, False),  # booleans never order
        ({"property": "missing", "op": "lt", "value": 5}, False),
        ({"property": "interests", "op": "contains", "value": "bags"}, True),
        ({"property": "interests", "op": "contains", "value": "hats"}, False),
        ({"property": "interests", "op": "contains", "value": 3.0}, True),
        ({"property": "interests", "op": "contains", "value": True}, True),
        ({"property": "interests", "op": "contains", "value": 1}, False),  # true is not 1
        ({"property": "bio", "op": "contains", "value": "running"}, True),
        ({"property": "bio", "op": "contains", "value": "Running"}, False),
        ({"property": "points", "op": "contains", "value": 1}, False),
        ({"property": "nested", "op": "contains", "value": "a"}, False),
        ({"property": "missing", "op": "contains", "value": "a"}, False),
    ],
)
def test_every_operator(rule: dict[str, Any], expected: bool) -> None:
    assert matches(rule) is expected


def test_nesting_all_any_not() -> None:
    rule = {
        "all": [
            {"property": "tier", "op": "eq", "value": "gold"},
            {
                "any": [
                    {"property": "country", "op": "eq", "value": "MX"},
                    {"not": {"property": "points", "op": "lt", "value": 100}},
                ]
            },
        ]
    }
    assert matches(rule)
    assert not matches(rule, {**PROFILE, "points": 50})
    assert matches(rule, {**PROFILE, "points": 50, "country": "MX"})


def test_empty_groups() -> None:
    assert matches({"all": []})
    assert not matches({"any": []})
    assert matches({"not": {"any": []}})


def test_membership_conditions() -> None:
    rule = {"all": [{"segment": "vip"}, {"not": {"segment": "blocked"}}]}
    assert matches(rule, segments={"vip"})
    assert not matches(rule, segments={"vip", "blocked"})
    assert not matches(rule, segments=set())
    assert referenced_segments(validate_rule(rule)) == ["vip", "blocked"]


def test_canonical_form_round_trips() -> None:
    raw = {
        "any": [
            {"property": "a", "op": "in", "value": ["x", "y", "x"]},
            {"property": "b", "op": "exists"},
            {"not": {"segment": "s"}},
        ]
    }
    rule = validate_rule(raw)
    canonical = rule_to_dict(rule)
    assert canonical == {
        "any": [
            {"property": "a", "op": "in", "value": ["x", "y"]},
            {"property": "b", "op": "exists", "value": True},
            {"not": {"segment": "s"}},
        ]
    }
    assert validate_rule(canonical) == rule
    assert rule_to_dict(validate_rule(canonical)) == canonical


def test_in_keeps_typed_duplicates_apart() -> None:
    rule = validate_rule({"property": "a", "op": "in", "value": [1, 1.0, "1", True]})
    assert isinstance(rule, Condition)
    assert rule.value == (1, "1", True)


def errors_of(raw: Any) -> list[str]:
    problems = Problems()
    assert parse_rule(raw, "rule", problems) is None
    return [str(e) for e in problems.errors]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"all": [{"property": "a", "op": "eq"}]},
            "rule.all[0].value: required; to match a missing property use exists",
        ),
        ({"all": [{"property": "a", "op": "like", "value": 1}]}, "rule.all[0].op: 'like' is not"),
        (
            {"any": [{}, {"property": "a", "op": "eq", "value": 1}]},
            "rule.any[0]: expected a rule such as",
        ),
        (
            {"all": [{"property": "a", "op": "in", "value": "x"}]},
            "rule.all[0].value: in takes a list of values, got a string",
        ),
        (
            {"all": [{"property": "a", "op": "in", "value": []}]},
            "rule.all[0].value: in takes 1 to 1000 values",
        ),
        (
            {"all": [{"property": "a", "op": "in", "value": [1, [2]]}]},
            "rule.all[0].value[1]: expected a string, a number or true/false, got a list",
        ),
        (
            {"all": [{"property": "a", "op": "gt", "value": True}]},
            "rule.all[0].value: expected a number or a string, got true/false",
        ),
        (
            {"all": [{"property": "a", "op": "eq", "value": float("nan")}]},
            "rule.all[0].value: must be a finite number",
        ),
        (
            {"all": [{"property": "a", "op": "exists", "value": "yes"}]},
            "rule.all[0].value: exists takes true or false, got a string",
        ),
        (
            {"all": [{"property": "a", "op": "eq", "value": 1, "extra": 2}]},
            "rule.all[0].extra: unknown key",
        ),
        ({"all": [{"segment": "Not A Code"}]}, "rule.all[0].segment: 'Not A Code' is not valid"),
        ({"not": [{"segment": "x"}]}, "rule.not: expected a rule such as"),
        ({"all": {"property": "a"}}, "rule.all: expected a list, got a mapping"),
        ({"all": [], "any": []}, "rule.any: unknown key"),
        ({"property": "", "op": "eq", "value": 1}, "rule.property: must not be empty"),
        ("tier = gold", "rule: expected a rule such as"),
    ],
)
def test_invalid_rules_name_the_path(raw: Any, expected: str) -> None:
    errors = errors_of(raw)
    assert any(e.startswith(expected) for e in errors), errors


def test_depth_and_size_limits() -> None:
    deep: dict[str, Any] = {"property": "a", "op": "exists"}
    for _ in range(12):
        deep = {"not": deep}
    assert any("nest at most" in e for e in errors_of(deep))
    wide = {"any": [{"property": "a", "op": "eq", "value": i} for i in range(501)]}
    assert any("at most" in e for e in errors_of(wide))


def test_validate_rule_raises_with_all_errors() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_rule({"all": [{"property": "a", "op": "bad"}, {"segment": 5}]})
    paths = [e.path for e in caught.value.errors]
    assert paths == ["rule.all[0].op", "rule.all[1].segment"]


def test_evaluation_order_and_dependents() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": [], "d": ["a", "c"], "e": []}
    order = evaluation_order(graph)
    for code, deps in graph.items():
        for dep in deps:
            assert order.index(dep) < order.index(code)
    assert dependents_of(graph, "c") == [c for c in order if c in {"a", "b", "d"}]
    assert dependents_of(graph, "e") == []


def test_cycles_are_found_and_refused() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": []}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    with pytest.raises(ValidationError, match="cycle"):
        evaluation_order(graph)
    assert find_cycle({"a": ["missing"]}) is None


def test_structures() -> None:
    rule = validate_rule({"all": [{"segment": "x"}]})
    assert rule == AllOf((InSegment("x"),))
