"""The bulk paths' JSON codec: orjson's speed, but exactly the values and text of ``json``."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.domain.json_codec import dumps, loads

STDLIB = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def same(a: Any, b: Any) -> bool:
    """Equal with types (1 is not 1.0 nor True) and NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or repr(a) == repr(b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


# Where orjson alone reads another value than json, or refuses what json accepts.
READ_CASES = [
    '{"a": 18446744073709551616}',  # past 64 bits: orjson reads a float
    '{"a": -9223372036854775809}',
    "[123456789012345678901234567890]",
    "12345678901234567890123",
    '{"a": NaN, "b": Infinity, "c": -Infinity}',  # json accepts these
    '{"a": 1e400}',  # overflows to inf in json
    '{"a": "\\ud800"}',  # a lone surrogate escape
    '{"id": "1234567890123456789012", "n": 1}',  # a long digit run inside a string
    '{"a": 1.0, "b": -0.0, "c": 1e-7, "d": 0.1, "e": 9007199254740993}',
    '{"a": "é ✓ 😀", "b": [true, false, null], "a": 2}',
    ' {"a": [1, 2, {"b": {}}]} \n',
]


@pytest.mark.parametrize("text", READ_CASES)
def test_reads_what_json_reads_from_text_and_bytes(text: str) -> None:
    want = json.loads(text)
    assert same(loads(text), want)
    assert same(loads(text.encode()), want)


@pytest.mark.parametrize(
    "data", [b"{", b'{"a":1,}', b"nul", b'{"a": 1} x', b'{"a":"\xff"}', b"\xef\xbb\xbf{}", b""]
)
def test_refuses_what_json_refuses_with_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        json.JSONDecoder().decode(data.decode())
    with pytest.raises(ValueError):
        loads(data)


WRITE_CASES: list[Any] = [
    {"a": 1e-7, "b": 5e-5, "c": 1e-5, "d": 0.0001, "e": 1e16, "f": 1e22, "g": -0.0},
    {"a": float("nan"), "b": float("inf"), "c": -float("inf")},
    {"a": 2**64, "b": -(2**63) - 1, "c": 2**63 - 1},
    {1: "int key", "b": None},
    {"a": 'é\u2028\x7f\x00\x1f\n\t"\\/ 😀', "null": "e-", "x": "0.00001"},
    {"nested": [{"a": [1, 2.5, True, None]}, [], {}]},
    {},
    [],
]


@pytest.mark.parametrize("value", WRITE_CASES)
def test_writes_the_text_json_writes(value: Any) -> None:
    assert dumps(value) == STDLIB.encode(value)


def test_a_lone_surrogate_is_written_as_json_writes_it() -> None:
    assert dumps({"a": "\ud800"}) == STDLIB.encode({"a": "\ud800"})


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400)
@given(values)
def test_any_value_round_trips_exactly_as_with_json(value: Any) -> None:
    text = STDLIB.encode(value)
    assert dumps(value) == text
    assert same(loads(text), json.loads(text))
    ascii_text = json.dumps(value)  # \u escapes, spaces after separators
    assert same(loads(ascii_text.encode()), json.loads(ascii_text))
