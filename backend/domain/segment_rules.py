"""Segment rules: parsing with path-named errors, and the Python evaluator.

A rule is ``{all: [...]}``, ``{any: [...]}``, ``{not: rule}``, ``{segment: code}`` (membership) or
a condition ``{property, op, value}``. Values compare as JSON values, strictly typed: a number
equals a number of the same value (1 == 1.0), never a string or a boolean; strings order by code
point. A missing property (or one that is null) matches nothing except ``ne``, ``not_in`` and
``exists: false``. ``contains`` looks for an element in a list, or a substring in a string.
``{all: []}`` matches everyone and ``{any: []}`` no one.

The SQL translation (``backend.services.segment_sql``) has exactly these semantics; this module is
the oracle its tests compare against, and what refreshes a single profile.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from backend.domain.config_schema import Problems, Reader, describe, join
from backend.domain.config_specs import CODE_HINT, CODE_RE
from backend.domain.errors import ValidationError

OPS = ("eq", "ne", "in", "not_in", "exists", "gt", "gte", "lt", "lte", "contains")
ORDER_OPS = ("gt", "gte", "lt", "lte")
MAX_DEPTH = 10
MAX_NODES = 500
MAX_IN_VALUES = 1000
MAX_TEXT = 1000
RULE_SHAPES = (
    "{all: [...]}, {any: [...]}, {not: rule}, {segment: code} or {property: name, op: eq, value: x}"
)

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Condition:
    property: str
    op: str
    # A scalar; a tuple of scalars for in/not_in; a bool for exists.
    value: Any


@dataclass(frozen=True)
class InSegment:
    segment: str


@dataclass(frozen=True)
class Not:
    rule: Rule


@dataclass(frozen=True)
class AllOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    rules: tuple[Rule, ...]


Rule = Condition | InSegment | Not | AllOf | AnyOf


# -- parsing ---------------------------------------------------------------------------------


def _scalar_problem(value: Any, *, allow_bool: bool = True) -> str | None:
    if isinstance(value, bool):
        return None if allow_bool else "expected a number or a string, got true/false"
    if isinstance(value, int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "must be a finite number"
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return f"must be at most {MAX_TEXT} characters"
        if "\x00" in value:
            return "must not contain NUL characters"
        return None
    what = "a string, a number or true/false" if allow_bool else "a number or a string"
    return f"expected {what}, got {describe(value)}"


class _Parser:
    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.nodes = 0

    def rule(self, value: Any, path: str, depth: int) -> Rule | None:
        before = len(self.problems.errors)
        result = self._rule(value, path, depth)
        return result if len(self.problems.errors) == before else None

    def _rule(self, value: Any, path: str, depth: int) -> Rule | None:
        self.nodes += 1
        if self.nodes == MAX_NODES + 1:
            self.problems.add(path, f"a rule may have at most {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            self.problems.add(path, f"rules may nest at most {MAX_DEPTH} levels deep")
            return None
        if not isinstance(value, Mapping):
            self.problems.add(path, f"expected a rule such as {RULE_SHAPES}, got {describe(value)}")
            return None
        for key in ("all", "any"):
            if key in value:
                return self._group(value, key, path, depth)
        if "not" in value:
            reader = Reader(value, path, self.problems, ("not",))
            inner = self.rule(reader.get("not"), reader.at("not"), depth + 1)
            return None if inner is None else Not(inner)
        if "segment" in value:
            reader = Reader(value, path, self.problems, ("segment",))
            code = reader.text("segment", max_length=64, pattern=CODE_RE, hint=CODE_HINT)
            return None if code is None else InSegment(code)
        if "property" in value or "op" in value:
            return self._condition(value, path)
        self.problems.add(path, f"expected a rule such as {RULE_SHAPES}")
        return None

    def _group(self, value: Mapping[str, Any], key: str, path: str, depth: int) -> Rule | None:
        reader = Reader(value, path, self.problems, (key,))
        entries = reader.items(key, required=True, max_items=MAX_NODES)
        if entries is None:
            return None
        before = len(self.problems.errors)
        parts = [self.rule(item, item_path, depth + 1) for item_path, item in entries]
        if len(self.problems.errors) > before:
            return None
        rules = tuple(p for p in parts if p is not None)
        return AllOf(rules) if key == "all" else AnyOf(rules)

    def _condition(self, value: Mapping[str, Any], path: str) -> Condition | None:
        reader = Reader(value, path, self.problems, ("property", "op", "value"))
        before = len(self.problems.errors)
        prop = reader.text("property", max_length=200, strip=False)
        op = reader.choice("op", OPS, None)
        parsed: Any = None
        if op is not None:
            parsed = self._value(reader, op)
        if len(self.problems.errors) > before or prop is None or op is None:
            return None
        return Condition(prop, op, parsed)

    def _value(self, reader: Reader, op: str) -> Any:
        raw = reader.get("value")
        if op == "exists":
            if "value" in reader.raw and not isinstance(raw, bool):
                reader.problem("value", f"exists takes true or false, got {describe(raw)}")
            return raw if isinstance(raw, bool) else True
        if raw is None:
            reader.problem(
                "value",
                "required"
                + ("" if op not in ("eq", "ne") else "; to match a missing property use exists"),
            )
            return None
        if op in ("in", "not_in"):
            if not isinstance(raw, list | tuple):
                reader.problem("value", f"{op} takes a list of values, got {describe(raw)}")
                return None
            if not raw or len(raw) > MAX_IN_VALUES:
                reader.problem("value", f"{op} takes 1 to {MAX_IN_VALUES} values")
                return None
            values: list[Scalar] = []
            for i, item in enumerate(raw):
                problem = _scalar_problem(item)
                if problem:
                    self.problems.add(join(reader.at("value"), i), problem)
                elif not any(json_equal(item, v) for v in values):
                    values.append(item)
            return tuple(values)
        problem = _scalar_problem(raw, allow_bool=op not in ORDER_OPS)
        if problem:
            reader.problem("value", problem)
            return None
        return raw


def parse_rule(value: Any, path: str, problems: Problems) -> Rule | None:
    """The rule, or None after adding one problem per mistake (paths start at ``path``)."""
    return _Parser(problems).rule(value, path, 0)


def validate_rule(value: Any, path: str = "rule") -> Rule:
    problems = Problems()
    rule = parse_rule(value, path, problems)
    problems.raise_if_any()
    assert rule is not None
    return rule


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """The canonical mapping (what files and the database hold); parsing it gives ``rule``."""
    if isinstance(rule, AllOf):
        return {"all": [rule_to_dict(r) for r in rule.rules]}
    if isinstance(rule, AnyOf):
        return {"any": [rule_to_dict(r) for r in rule.rules]}
    if isinstance(rule, Not):
        return {"not": rule_to_dict(rule.rule)}
    if isinstance(rule, InSegment):
        return {"segment": rule.segment}
    value = list(rule.value) if rule.op in ("in", "not_in") else rule.value
    return {"property": rule.property, "op": rule.op, "value": value}


def referenced_segments(rule: Rule) -> list[str]:
    """Segment codes the rule's membership conditions name, in order, without duplicates."""
    found: list[str] = []

    def walk(node: Rule) -> None:
        if isinstance(node, InSegment):
            if node.segment not in found:
                found.append(node.segment)
        elif isinstance(node, Not):
            walk(node.rule)
        elif isinstance(node, AllOf | AnyOf):
            for child in node.rules:
                walk(child)

    walk(rule)
    return found


def find_cycle(graph: Mapping[str, Collection[str]]) -> list[str] | None:
    """A membership cycle (``[a, b, a]``) among segments, or None."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(code: str) -> list[str] | None:
        state[code] = 1
        stack.append(code)
        for dep in graph.get(code, ()):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep in graph and state.get(dep) is None:
                cycle = visit(dep)
                if cycle:
                    return cycle
        stack.pop()
        state[code] = 2
        return None

    for code in sorted(graph):
        if state.get(code) is None:
            cycle = visit(code)
            if cycle:
                return cycle
    return None


def evaluation_order(graph: Mapping[str, Collection[str]]) -> list[str]:
    """Codes ordered so each segment comes after the segments its rule refers to."""
    cycle = find_cycle(graph)
    if cycle:
        raise ValidationError(f"segments refer to each other in a cycle: {' -> '.join(cycle)}")
    order: list[str] = []
    done: set[str] = set()

    def visit(code: str) -> None:
        if code in done:
            return
        done.add(code)
        for dep in graph.get(code, ()):
            if dep in graph:
                visit(dep)
        order.append(code)

    for code in sorted(graph):
        visit(code)
    return order


def dependents_of(graph: Mapping[str, Collection[str]], code: str) -> list[str]:
    """Segments whose rules depend on ``code``, directly or not, in evaluation order."""
    affected = {code}
    changed = True
    while changed:
        changed = False
        for other, deps in graph.items():
            if other not in affected and affected & set(deps):
                affected.add(other)
                changed = True
    return [c for c in evaluation_order(graph) if c in affected and c != code]


# -- evaluation ------------------------------------------------------------------------------


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object"


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON scalars of the same kind (true is not 1; 1 is 1.0)."""
    kind = json_kind(a)
    return kind in ("bool", "number", "string") and kind == json_kind(b) and a == b


def _condition(cond: Condition, properties: Mapping[str, Any]) -> bool:
    value = properties.get(cond.property)
    op = cond.op
    if op == "exists":
        return (value is not None) is cond.value
    if op == "eq":
        return json_equal(value, cond.value)
    if op == "ne":
        return not json_equal(value, cond.value)
    if op == "in":
        return any(json_equal(value, v) for v in cond.value)
    if op == "not_in":
        return not any(json_equal(value, v) for v in cond.value)
    if op in ORDER_OPS:
        kind = json_kind(value)
        if kind != json_kind(cond.value):
            return False
        if op == "gt":
            return bool(value > cond.value)
        if op == "gte":
            return bool(value >= cond.value)
        if op == "lt":
            return bool(value < cond.value)
        return bool(value <= cond.value)
    # contains
    kind = json_kind(value)
    if value is None:
        return False
    if kind == "array":
        return any(json_equal(item, cond.value) for item in value)
    if kind == "string" and isinstance(cond.value, str):
        return cond.value in value
    return False


def evaluate(rule: Rule, properties: Mapping[str, Any], memberships: Collection[str]) -> bool:
    """Whether a profile with these properties and segment memberships matches the rule."""
    if isinstance(rule, Condition):
        return _condition(rule, properties)
    if isinstance(rule, InSegment):
        return rule.segment in memberships
    if isinstance(rule, Not):
        return not evaluate(rule.rule, properties, memberships)
    if isinstance(rule, AllOf):
        return all(evaluate(r, properties, memberships) for r in rule.rules)
    return any(evaluate(r, properties, memberships) for r in rule.rules)
