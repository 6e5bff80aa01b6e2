"""Merge strategies (PRODUCT §3.4): the documented examples, then properties over any values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.domain.merge import MISSING, STRATEGIES, merge_value, same_value

# The examples of docs/profile-sync.md, one row each: strategy, P, B, memory -> P', memory'.
EXAMPLES: list[tuple[str, Any, Any, Any, Any, Any]] = [
    ("set", "Ann", "Anna", MISSING, "Anna", MISSING),
    ("set", "Ann", MISSING, MISSING, "Ann", MISSING),
    ("set", MISSING, 3, MISSING, 3, MISSING),
    ("set", "Ann", None, MISSING, "Ann", MISSING),
    ("add", ["a", "b"], ["b", "c"], MISSING, ["a", "b", "c"], MISSING),
    ("add", MISSING, ["x", "x"], MISSING, ["x"], MISSING),
    ("add", "solo", ["b"], MISSING, ["solo", "b"], MISSING),
    ("add", ["a"], "b", MISSING, ["a", "b"], MISSING),
    ("add", ["a"], MISSING, MISSING, ["a"], MISSING),
    ("add", [{"k": 1}], [{"k": 1}, {"k": 2}], MISSING, [{"k": 1}, {"k": 2}], MISSING),
    ("sum", 100, 40, MISSING, 140, 40),
    ("sum", 140, 40, 40, 140, 40),
    ("sum", 140, 55, 40, 155, 55),
    ("sum", 155, 30, 55, 130, 30),
    ("sum", MISSING, 7, MISSING, 7, 7),
    ("sum", "n/a", 7, MISSING, 7, 7),
    ("sum", 10, MISSING, 4, 10, 4),
    ("sum", 10, "12", 4, 10, 4),
    ("sum", 1.5, 0.25, MISSING, 1.75, 0.25),
    ("set_if_empty", MISSING, "Ann", MISSING, "Ann", MISSING),
    ("set_if_empty", None, "Ann", MISSING, "Ann", MISSING),
    ("set_if_empty", "", "Ann", MISSING, "Ann", MISSING),
    ("set_if_empty", [], ["x"], MISSING, ["x"], MISSING),
    ("set_if_empty", "Bo", "Ann", MISSING, "Bo", MISSING),
    ("set_if_empty", 0, 5, MISSING, 0, MISSING),
    ("set_if_empty", MISSING, MISSING, MISSING, MISSING, MISSING),
    ("clear", "gold", MISSING, MISSING, MISSING, MISSING),
    ("clear", "gold", "", MISSING, MISSING, MISSING),
    ("clear", "gold", [], MISSING, MISSING, MISSING),
    ("clear", "gold", None, MISSING, MISSING, MISSING),
    ("clear", "gold", "silver", MISSING, "silver", MISSING),
    ("clear", MISSING, 0, MISSING, 0, MISSING),
]


@pytest.mark.parametrize(("strategy", "p", "b", "memory", "expected", "expected_memory"), EXAMPLES)
def test_documented_examples(
    strategy: str, p: Any, b: Any, memory: Any, expected: Any, expected_memory: Any
) -> None:
    value, new_memory = merge_value(strategy, p, b, memory)
    assert same_value(value, expected), (value, expected)
    assert same_value(new_memory, expected_memory)


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown merge strategy"):
        merge_value("append", 1, 2)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10_000, 10_000),
    st.text(max_size=5),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
maybe = st.one_of(st.just(MISSING), json_values)
numbers = st.integers(-1_000_000, 1_000_000)


@given(st.sampled_from(STRATEGIES), maybe, maybe)
def test_reimporting_the_same_value_changes_nothing(strategy: str, p: Any, b: Any) -> None:
    """Idempotence: merging B a second time (with the memory the first left) is a no-op."""
    once, memory = merge_value(strategy, p, b)
    twice, memory_again = merge_value(strategy, once, b, memory)
    assert same_value(once, twice)
    assert same_value(memory, memory_again)


@given(numbers, st.lists(numbers, min_size=1, max_size=6))
def test_sum_counts_each_braze_value_once(start: int, observed: list[int]) -> None:
    """However often it is imported, P ends at start + the user's latest B, never more."""
    p: Any = start
    memory: Any = MISSING
    for b in observed:
        for _ in range(2):  # every import runs twice
            p, memory = merge_value("sum", p, b, memory)
    assert p == start + observed[-1]
    assert memory == observed[-1]


@given(st.lists(st.text(max_size=3), max_size=6), st.lists(st.text(max_size=3), max_size=6))
def test_add_keeps_profile_order_first_and_has_no_duplicates(p: list[str], b: list[str]) -> None:
    merged, _ = merge_value("add", p, b)
    assert len(merged) == len(set(merged))
    first = list(dict.fromkeys(p))
    assert merged[: len(first)] == first
    assert set(merged) == set(p) | set(b)
    assert [x for x in merged if x not in p] == [x for x in dict.fromkeys(b) if x not in p]


@given(maybe, json_values)
def test_set_and_clear_take_any_present_value(p: Any, b: Any) -> None:
    value, _ = merge_value("set", p, b)
    assert same_value(value, p if b is None else b)
    cleared, _ = merge_value("clear", p, b)
    assert same_value(cleared, MISSING if b in (None, "", []) else b)
