"""The SQL translation of segment rules matches the Python evaluator exactly.

Runs on the test database: SQLite by default, PostgreSQL when OPTLINE_TEST_DATABASE_URL names
one (CI runs both). Hypothesis draws profiles and rules from small pools of keys and values, so
rules often hit, miss and mistype the same properties.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from backend.db.models import Profile, Segment, SegmentMember
from backend.domain.segment_rules import OPS, evaluate, validate_rule
from backend.services.deps import Deps
from backend.services.segment_sql import UnsupportedRuleError, rule_expression

# Keys a JSON path spells directly, and ones only json_each can find on SQLite.
KEYS = ["a", "b", "x.y", "é", 'q"k', "sp ace"]
TEXTS = ["", "a", "ab", "b", "B", "é", "a b", "10", "Z", "zz"]
scalars = st.one_of(
    st.sampled_from(TEXTS),
    st.integers(-3, 3),
    st.sampled_from([0.5, -1.0, 2.0, 10.0, 1e15, -2.5]),
    st.booleans(),
)
values = st.one_of(
    scalars,
    st.lists(st.one_of(scalars, st.lists(scalars, max_size=2)), max_size=4),
    st.dictionaries(st.sampled_from(["a", "k"]), scalars, max_size=2),
)
properties = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)


def condition(op: str) -> st.SearchStrategy[dict[str, Any]]:
    key = st.sampled_from(KEYS)
    if op == "exists":
        return st.builds(lambda k, v: {"property": k, "op": op, "value": v}, key, st.booleans())
    if op in ("in", "not_in"):
        value: st.SearchStrategy[Any] = st.lists(scalars, min_size=1, max_size=4)
    elif op in ("gt", "gte", "lt", "lte"):
        value = st.one_of(st.sampled_from(TEXTS), st.integers(-3, 3), st.sampled_from([0.5, 2.0]))
    else:
        value = scalars
    return st.builds(lambda k, v: {"property": k, "op": op, "value": v}, key, value)


leaves = st.one_of(
    *[condition(op) for op in OPS],
    st.builds(lambda s: {"segment": s}, st.sampled_from(["s1", "s2", "unknown"])),
)
rules = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda items: {"all": items}, st.lists(inner, max_size=3)),
        st.builds(lambda items: {"any": items}, st.lists(inner, max_size=3)),
        st.builds(lambda item: {"not": item}, inner),
    ),
    max_leaves=6,
)
people = st.lists(
    st.tuples(properties, st.sets(st.sampled_from(["s1", "s2"]))), min_size=1, max_size=8
)


def load(session: Session, population: list[tuple[dict[str, Any], set[str]]]) -> dict[str, int]:
    session.execute(delete(SegmentMember))
    session.execute(delete(Profile))
    session.execute(delete(Segment))
    ids = {}
    for code in ("s1", "s2"):
        segment = Segment(code=code, name=code, rule={"members": []}, is_static=True)
        session.add(segment)
        session.flush()
        ids[code] = segment.id
    for props, codes in population:
        profile = Profile(
            profile_key=str(uuid.uuid4()),
            properties=props,
            identifiers={},
            interactions=[],
            version=1,
        )
        session.add(profile)
        session.flush()
        for code in codes:
            session.execute(
                insert(SegmentMember).values(segment_id=ids[code], profile_id=profile.id)
            )
    session.flush()
    return ids


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(population=people, candidates=st.lists(rules, min_size=1, max_size=4))
def test_sql_matches_python(
    deps: Deps, population: list[tuple[dict[str, Any], set[str]]], candidates: list[dict[str, Any]]
) -> None:
    with deps.session() as session:
        segment_ids = load(session, population)
        dialect = session.get_bind().dialect.name
        stored = {p.id: p.properties for p in session.scalars(select(Profile))}
        members = {pid: set() for pid in stored}
        for pid, sid in session.execute(select(SegmentMember.profile_id, SegmentMember.segment_id)):
            members[pid].add("s1" if sid == segment_ids["s1"] else "s2")
        for raw in candidates:
            rule = validate_rule(raw)
            expected = {pid for pid, props in stored.items() if evaluate(rule, props, members[pid])}
            where = rule_expression(rule, dialect, segment_ids)
            found = set(session.scalars(select(Profile.id).where(where)))
            assert found == expected, (raw, {pid: stored[pid] for pid in found ^ expected})
            negated = set(session.scalars(select(Profile.id).where(~where)))
            assert negated == set(stored) - expected, raw


@pytest.mark.parametrize(
    ("props", "rule", "expected"),
    [
        ({"n": 2**40}, {"property": "n", "op": "gt", "value": 2**39}, True),
        ({"n": -0.0}, {"property": "n", "op": "eq", "value": 0}, True),
        ({"s": "é"}, {"property": "s", "op": "gt", "value": "z"}, True),  # code point order
        ({"s": "a"}, {"property": "s", "op": "lt", "value": "B"}, False),  # not a locale order
        ({"l": [[1]]}, {"property": "l", "op": "contains", "value": 1}, False),  # no deep match
        ({"o": {"x": 1}}, {"property": "o", "op": "exists"}, True),
        ({"t": "50% off"}, {"property": "t", "op": "contains", "value": "%"}, True),
        ({"t": "a_b"}, {"property": "t", "op": "contains", "value": "_"}, True),
        ({"t": "ab"}, {"property": "t", "op": "contains", "value": "_"}, False),  # no wildcards
    ],
)
def test_edge_cases(
    deps: Deps, props: dict[str, Any], rule: dict[str, Any], expected: bool
) -> None:
    with deps.session() as session:
        load(session, [(props, set())])
        where = rule_expression(validate_rule(rule), session.get_bind().dialect.name, {})
        assert bool(session.scalars(select(Profile.id).where(where)).first()) is expected
        assert evaluate(validate_rule(rule), props, set()) is expected


def test_unknown_dialect_is_unsupported() -> None:
    with pytest.raises(UnsupportedRuleError):
        rule_expression(validate_rule({"all": []}), "mysql", {})
