"""Import merge strategies (PRODUCT §3.4): how a Braze value B changes a profile value P.

Pure functions over JSON values. ``MISSING`` stands for "no such key" on either side: a
strategy that returns ``MISSING`` removes the profile property. docs/profile-sync.md has the
worked examples; tests/unit/domain/test_merge.py checks each one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from backend.domain.profiles import same_json

STRATEGIES: Final = ("set", "add", "sum", "set_if_empty", "clear")


class _Missing:
    """The absence of a value: a key not present (distinct from JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


def is_empty(value: Any) -> bool:
    """PRODUCT §3.4's "empty": missing, null, "" or [] ({} and 0 are values)."""
    return value is MISSING or value is None or value == "" or value == []


_NUMBERS = (int, float)
_SCALARS = (str, int, float, bool, type(None))


def is_number(value: Any) -> bool:
    return type(value) in _NUMBERS  # JSON numbers; True/False are bool, not int


def same_value(a: Any, b: Any) -> bool:
    """Equal as stored JSON (``domain.profiles.same_json``), MISSING equal only to itself."""
    if a is b:
        return True
    if a is MISSING or b is MISSING:
        return False
    kind = type(a)
    if kind is type(b) and kind in _SCALARS:
        return bool(a == b)  # the common case, without same_json's generic checks
    return same_json(a, b)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _as_list(value: Any) -> list[Any]:
    if value is MISSING or value is None:
        return []
    return value if type(value) is list else [value]


def _item_key(item: Any) -> Any:
    kind = type(item)
    if kind is str:
        return item  # strings key as themselves: the common case
    if kind is list or kind is dict:
        return ("json", _canonical(item))
    if kind is int or kind is float:
        return ("number", item)
    return (kind.__name__, item)


def _union(first: list[Any], second: list[Any]) -> list[Any]:
    """Items of both, first occurrence kept, ``first``'s order first; objects compared as JSON."""
    items = [*first, *second]
    if all(type(item) is str for item in items):
        return list(dict.fromkeys(items))  # strings key as themselves: the common case
    seen: set[Any] = set()
    out: list[Any] = []
    for item in items:
        key = _item_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _add_numbers(a: Any, b: Any) -> Any:
    total = a + b
    # Floats drift when deltas pile up (0.1 + 0.2); ten decimals is more than Braze keeps.
    return round(total, 10) if isinstance(total, float) else total


def _merge_set(current: Any, incoming: Any, memory: Any) -> tuple[Any, Any]:
    if incoming is MISSING or incoming is None:
        return current, memory
    return incoming, memory


def _merge_set_if_empty(current: Any, incoming: Any, memory: Any) -> tuple[Any, Any]:
    if is_empty(current) and incoming is not MISSING and incoming is not None:
        return incoming, memory
    return current, memory


def _merge_clear(current: Any, incoming: Any, memory: Any) -> tuple[Any, Any]:
    return (MISSING if is_empty(incoming) else incoming), memory


def _merge_add(current: Any, incoming: Any, memory: Any) -> tuple[Any, Any]:
    if incoming is MISSING or incoming is None:
        return current, memory
    return _union(_as_list(current), _as_list(incoming)), memory


def _merge_sum(current: Any, incoming: Any, memory: Any) -> tuple[Any, Any]:
    if not is_number(incoming):
        # Missing (attribute removed in Braze) or not a number: P and the memory stay.
        return current, memory
    delta = _add_numbers(incoming, -memory) if is_number(memory) else incoming
    if is_number(current) and delta == 0:
        return current, incoming
    base = current if is_number(current) else 0
    return _add_numbers(base, delta), incoming


Merger = Callable[[Any, Any, Any], tuple[Any, Any]]
# strategy -> merger(current, incoming, memory); a plan looks each one up once, not per value.
MERGERS: Final[dict[str, Merger]] = {
    "set": _merge_set,
    "add": _merge_add,
    "sum": _merge_sum,
    "set_if_empty": _merge_set_if_empty,
    "clear": _merge_clear,
}
assert set(MERGERS) == set(STRATEGIES)


def merge_value(
    strategy: str, current: Any, incoming: Any, memory: Any = MISSING
) -> tuple[Any, Any]:
    """Apply one strategy: returns (new P or MISSING to remove it, new sum memory).

    ``memory`` is only used by ``sum``: the B this Braze user had at its previous import
    (MISSING the first time). Every other strategy returns ``memory`` unchanged.
    """
    merger = MERGERS.get(strategy)
    if merger is None:
        raise ValueError(f"unknown merge strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    return merger(current, incoming, memory)
