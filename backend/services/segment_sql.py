"""Segment rules as SQL over ``profiles.properties``: SQLite's JSON1 and PostgreSQL's JSONB.

Every leaf is made two-valued (``coalesce(…, false)``), so ``NOT`` of a rule is exactly the
profiles the rule does not match, as in the Python evaluator (``backend.domain.segment_rules``),
whose semantics these expressions reproduce:

- types are checked first (``json_type`` / ``jsonb_typeof``), so 1 never equals "1" or true;
- numbers compare numerically, strings by code point (SQLite BINARY, PostgreSQL ``COLLATE "C"``);
- ``contains`` scans array elements with ``json_each`` / ``jsonb_array_elements``.

A dialect without JSON support raises ``UnsupportedRuleError``; callers then evaluate in Python.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from backend.db.models import Profile, SegmentMember
from backend.domain.segment_rules import (
    AllOf,
    AnyOf,
    Condition,
    InSegment,
    Not,
    Rule,
    json_kind,
)

SQLITE_NUMBER = ("integer", "real")


class UnsupportedRuleError(Exception):
    """The rule (or the database) cannot be expressed in SQL here; evaluate in Python."""


def rule_expression(
    rule: Rule, dialect: str, segment_ids: Mapping[str, int]
) -> ColumnElement[bool]:
    """A WHERE clause over ``profiles`` matching exactly the profiles ``rule`` matches."""
    if dialect == "sqlite":
        return _Translator(_SqliteJson(), segment_ids).rule(rule)
    if dialect == "postgresql":
        return _Translator(_PostgresJson(), segment_ids).rule(rule)
    raise UnsupportedRuleError(f"no JSON translation for {dialect}")


class _Translator:
    def __init__(self, json_sql: _SqliteJson | _PostgresJson, segment_ids: Mapping[str, int]):
        self.json = json_sql
        self.segment_ids = segment_ids

    def rule(self, rule: Rule) -> ColumnElement[bool]:
        if isinstance(rule, AllOf):
            parts = [self.rule(r) for r in rule.rules]
            return and_(*parts) if parts else true()
        if isinstance(rule, AnyOf):
            parts = [self.rule(r) for r in rule.rules]
            return or_(*parts) if parts else false()
        if isinstance(rule, Not):
            return not_(self.rule(rule.rule))
        if isinstance(rule, InSegment):
            segment_id = self.segment_ids.get(rule.segment)
            if segment_id is None:
                return false()
            return exists().where(
                SegmentMember.segment_id == segment_id, SegmentMember.profile_id == Profile.id
            )
        return func.coalesce(self.condition(rule), false())

    def condition(self, cond: Condition) -> ColumnElement[bool]:
        access = self.json.access(cond.property)
        op = cond.op
        if op == "exists":
            present = access.present()
            return present if cond.value else not_(func.coalesce(present, false()))
        if op in ("eq", "ne"):
            match = func.coalesce(access.equals(cond.value), false())
            return match if op == "eq" else not_(match)
        if op in ("in", "not_in"):
            match = func.coalesce(or_(*(access.equals(v) for v in cond.value)), false())
            return match if op == "in" else not_(match)
        if op in ("gt", "gte", "lt", "lte"):
            return access.compare(op, cond.value)
        return access.contains(cond.value)


_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


class _SqliteAccess:
    def __init__(self, kind: Any, value: Any) -> None:
        self.kind = kind  # json_type(): null, true, false, integer, real, text, array, object
        self.value = value

    def present(self) -> ColumnElement[bool]:
        return and_(self.kind.is_not(None), self.kind != "null")

    @staticmethod
    def element_equals(kind: Any, value: Any, expected: Any) -> ColumnElement[bool]:
        expected_kind = json_kind(expected)
        if expected_kind == "bool":
            return kind == ("true" if expected else "false")  # type: ignore[no-any-return]
        if expected_kind == "number":
            return and_(kind.in_(SQLITE_NUMBER), value == expected)
        return and_(kind == "text", value == literal(expected, String))

    def equals(self, expected: Any) -> ColumnElement[bool]:
        return self.element_equals(self.kind, self.value, expected)

    def compare(self, op: str, expected: Any) -> ColumnElement[bool]:
        if json_kind(expected) == "number":
            guard = self.kind.in_(SQLITE_NUMBER)
            bound = literal(expected)
        else:
            guard = self.kind == "text"
            bound = literal(expected, String)
        return func.coalesce(and_(guard, self.value.op(_OPERATORS[op])(bound)), false())

    def contains(self, expected: Any) -> ColumnElement[bool]:
        array = case((self.kind == "array", self.value), else_=literal("[]"))
        element = func.json_each(array).table_valued("value", "type").alias("element")
        in_array = exists(
            select(literal(1))
            .select_from(element)
            .where(self.element_equals(element.c.type, element.c.value, expected))
        )
        if isinstance(expected, str):
            in_text = and_(self.kind == "text", func.instr(self.value, expected) > 0)
            return func.coalesce(or_(in_array, in_text), false())
        return func.coalesce(in_array, false())


class _SqliteJson:
    @staticmethod
    def access(name: str) -> _SqliteAccess:
        if name.isascii() and name.isprintable() and '"' not in name and "\\" not in name:
            path = literal('$."' + name + '"', String)
            return _SqliteAccess(
                func.json_type(Profile.properties, path),
                func.json_extract(Profile.properties, path),
            )
        # Keys a JSON path cannot spell (quotes, non-ASCII stored as \u escapes): json_each
        # decodes keys, so look the key up among the object's members.
        member = (
            func.json_each(Profile.properties).table_valued("key", "value", "type").alias("member")
        )
        kind = select(member.c.type).where(member.c.key == name).scalar_subquery()
        value = select(member.c.value).where(member.c.key == name).scalar_subquery()
        return _SqliteAccess(kind, value)


class _PostgresAccess:
    def __init__(self, name: str) -> None:
        key = literal(name, Text)
        self.value = Profile.properties.op("->", return_type=JSONB)(key)
        self.text = Profile.properties.op("->>", return_type=Text)(key)
        self.kind = func.jsonb_typeof(self.value)

    def present(self) -> ColumnElement[bool]:
        return func.coalesce(self.kind != "null", false())

    @staticmethod
    def _json(value: Any) -> ColumnElement[Any]:
        return cast(literal(json.dumps(value), Text), JSONB)

    def equals(self, expected: Any) -> ColumnElement[bool]:
        # jsonb equality is typed: numbers numerically, true is not 1, strings exactly.
        return self.value.op("=", is_comparison=True)(self._json(expected))

    def compare(self, op: str, expected: Any) -> ColumnElement[bool]:
        if json_kind(expected) == "number":
            guard = self.kind == "number"
            check = self.value.op(_OPERATORS[op], is_comparison=True)(self._json(expected))
        else:
            guard = self.kind == "string"
            check = self.text.collate("C").op(_OPERATORS[op], is_comparison=True)(
                literal(expected, Text)
            )
        return func.coalesce(and_(guard, check), false())

    def contains(self, expected: Any) -> ColumnElement[bool]:
        array = case((self.kind == "array", self.value), else_=self._json([]))
        element = func.jsonb_array_elements(array).table_valued("value").alias("element")
        in_array = exists(
            select(literal(1))
            .select_from(element)
            .where(element.c.value.op("=", is_comparison=True)(self._json(expected)))
        )
        if isinstance(expected, str):
            in_text = and_(self.kind == "string", func.strpos(self.text, expected) > 0)
            return func.coalesce(or_(in_array, in_text), false())
        return func.coalesce(in_array, false())


class _PostgresJson:
    @staticmethod
    def access(name: str) -> _PostgresAccess:
        return _PostgresAccess(name)
