"""Property tests for the pure rules that money and law depend on: merge strategies, the ledger
chain, the outbox batching planner and the export delta."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.domain.export_delta import DeltaPlanner, ProfileView, plan_export
from backend.domain.ledger import GENESIS_HASH, ChainVerifier, LedgerRecord, chain_hash
from backend.domain.merge import MISSING, STRATEGIES, is_empty, merge_value, same_value
from backend.domain.outbox_plan import (
    MAX_IDS_PER_GROUP_SET,
    OutboxItem,
    coalesce,
    plan_group_requests,
)

PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- merge strategies (PRODUCT §3.4)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=6),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
values_or_missing = st.one_of(st.just(MISSING), json_values)
items = st.one_of(st.text(max_size=4), st.integers(-50, 50))


@PROPS
@given(st.sampled_from(STRATEGIES), values_or_missing, values_or_missing, values_or_missing)
def test_reimporting_the_same_value_changes_nothing(
    strategy: str, current: Any, incoming: Any, memory: Any
) -> None:
    once, memory_once = merge_value(strategy, current, incoming, memory)
    twice, memory_twice = merge_value(strategy, once, incoming, memory_once)
    assert same_value(twice, once), (strategy, current, incoming, once, twice)
    assert same_value(memory_twice, memory_once)


@PROPS
@given(
    st.integers(-1000, 1000),
    st.lists(st.one_of(st.just(MISSING), st.none(), st.integers(-1000, 1000)), max_size=12),
    st.data(),
)
def test_sum_never_double_counts(start: int, imports: list[Any], data: st.DataObject) -> None:
    """However often each Braze value is re-imported, P = start + the last number Braze had."""
    current: Any = start
    memory: Any = MISSING
    for incoming in imports:
        for _ in range(data.draw(st.integers(1, 3))):
            current, memory = merge_value("sum", current, incoming, memory)
    numbers = [b for b in imports if type(b) is int]
    assert current == start + (numbers[-1] if numbers else 0)
    assert memory == (numbers[-1] if numbers else MISSING)


@PROPS
@given(
    st.lists(items, unique_by=lambda v: (type(v), v), max_size=8),
    st.one_of(items, st.lists(items, max_size=8)),
)
def test_add_keeps_the_order_and_adds_no_duplicates(current: list[Any], incoming: Any) -> None:
    merged, _ = merge_value("add", current, incoming)
    added = incoming if isinstance(incoming, list) else [incoming]
    keys = [(type(v), v) for v in merged]
    assert len(keys) == len(set(keys)), merged
    assert merged[: len(current)] == current
    assert set(keys) == {(type(v), v) for v in [*current, *added]}


@PROPS
@given(values_or_missing, values_or_missing)
def test_set_if_empty_and_clear_follow_their_definitions(current: Any, incoming: Any) -> None:
    kept, _ = merge_value("set_if_empty", current, incoming)
    if is_empty(current) and incoming is not MISSING and incoming is not None:
        assert same_value(kept, incoming)
    else:
        assert same_value(kept, current)
    cleared, _ = merge_value("clear", current, incoming)
    assert cleared is MISSING if is_empty(incoming) else same_value(cleared, incoming)


@PROPS
@given(values_or_missing, values_or_missing)
def test_set_takes_every_present_value(current: Any, incoming: Any) -> None:
    result, _ = merge_value("set", current, incoming)
    expected = current if incoming is MISSING or incoming is None else incoming
    assert same_value(result, expected)


# ----------------------------------------------------------------------------- the ledger chain

texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8)
records = st.builds(
    LedgerRecord,
    at=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    subject_key=texts,
    subscription=texts,
    channel=st.sampled_from(["email", "sms", "push"]),
    state=st.sampled_from(["subscribed", "unsubscribed"]),
    source=st.sampled_from(["widget", "api", "import"]),
    proof=texts,
    property=st.one_of(st.none(), texts),
    origin=st.one_of(st.none(), texts),
    language=st.one_of(st.none(), st.sampled_from(["en", "es"])),
    text_version=st.one_of(st.none(), st.integers(1, 99)),
    user_agent=st.one_of(st.none(), texts),
)
Entry = tuple[int, LedgerRecord, str, str]  # id, fields, prev_hash, hash


def build_chain(fields: list[LedgerRecord]) -> list[Entry]:
    chain, prev = [], GENESIS_HASH
    for i, record in enumerate(fields, start=1):
        digest = chain_hash(record, prev)
        chain.append((i, record, prev, digest))
        prev = digest
    return chain


def verify(entries: list[Entry], head: tuple[str, int] | None) -> bool:
    verifier = ChainVerifier()
    for entry_id, record, prev, digest in sorted(entries, key=lambda e: e[0]):
        verifier.feed(entry_id, record, prev, digest)
    head_hash, head_id = head if head else (None, None)
    return verifier.finish(head_hash, head_id).ok


def head_of(chain: list[Entry]) -> tuple[str, int] | None:
    return (chain[-1][3], chain[-1][0]) if chain else None


def altered(value: Any) -> Any:
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    if isinstance(value, int):
        return value + 1
    if value is None:
        return "x"
    return value + "x"


@PROPS
@given(st.lists(records, max_size=8))
def test_a_valid_chain_always_verifies(fields: list[LedgerRecord]) -> None:
    chain = build_chain(fields)
    assert verify(chain, head_of(chain))


@PROPS
@given(st.lists(records, min_size=1, max_size=8), st.data())
def test_any_single_field_alteration_is_detected(
    fields: list[LedgerRecord], data: st.DataObject
) -> None:
    chain = build_chain(fields)
    head = head_of(chain)
    index = data.draw(st.integers(0, len(chain) - 1))
    entry_id, record, prev, digest = chain[index]
    name = data.draw(st.sampled_from([*LedgerRecord.__dataclass_fields__, "prev_hash", "hash"]))
    if name == "prev_hash":
        chain[index] = (entry_id, record, "f" * 64 if prev != "f" * 64 else "e" * 64, digest)
    elif name == "hash":
        chain[index] = (entry_id, record, prev, "f" * 64)
    else:
        changed = replace(record, **{name: altered(getattr(record, name))})
        chain[index] = (entry_id, changed, prev, digest)
    assert not verify(chain, head)


@PROPS
@given(st.lists(records, min_size=1, max_size=8), st.data())
def test_deleting_an_entry_is_detected(fields: list[LedgerRecord], data: st.DataObject) -> None:
    chain = build_chain(fields)
    head = head_of(chain)
    del chain[data.draw(st.integers(0, len(chain) - 1))]
    assert not verify(chain, head)


@PROPS
@given(st.lists(records, min_size=2, max_size=8), st.data())
def test_swapping_two_entries_is_detected(fields: list[LedgerRecord], data: st.DataObject) -> None:
    chain = build_chain(fields)
    head = head_of(chain)
    i = data.draw(st.integers(0, len(chain) - 2))
    j = data.draw(st.integers(i + 1, len(chain) - 1))
    # The rows keep their ids (the database's order); their contents trade places.
    (id_i, *rest_i), (id_j, *rest_j) = chain[i], chain[j]
    chain[i], chain[j] = (id_i, *rest_j), (id_j, *rest_i)  # type: ignore[assignment]
    assert not verify(chain, head)


@PROPS
@given(st.lists(records, max_size=8), records, st.data())
def test_inserting_a_well_hashed_entry_is_detected(
    fields: list[LedgerRecord], forged: LedgerRecord, data: st.DataObject
) -> None:
    chain = build_chain(fields)
    head = head_of(chain)
    at = data.draw(st.integers(0, len(chain)))
    prev = chain[at - 1][3] if at else GENESIS_HASH
    entries = [*chain[:at], (-1, forged, prev, chain_hash(forged, prev)), *chain[at:]]
    renumbered = [(i, r, p, h) for i, (_, r, p, h) in enumerate(entries, start=1)]
    assert not verify(renumbered, head)


# ---------------------------------------------------------------------- the batching planner

outbox_items = st.lists(
    st.builds(
        OutboxItem,
        id=st.integers(1, 10**6),
        kind=st.sampled_from(["subscription_group", "email_subscribe"]),
        target=st.sampled_from(["g1", "g2", "g3"]),
        identifier_type=st.sampled_from(["external_id", "email"]),
        identifier=st.sampled_from([f"u{i}" for i in range(80)]),
        state=st.sampled_from(["subscribed", "unsubscribed"]),
    ),
    unique_by=lambda item: item.id,
    max_size=300,
)


@PROPS
@given(outbox_items)
def test_coalescing_keeps_the_newest_row_per_key(rows: list[OutboxItem]) -> None:
    result = coalesce(rows)
    newest: dict[Any, int] = {}
    for row in rows:
        newest[row.key] = max(newest.get(row.key, 0), row.id)
    assert sorted(w.id for w in result.winners) == sorted(newest.values())
    assert len({w.key for w in result.winners}) == len(result.winners)
    every = [w.id for w in result.winners] + list(result.superseded)
    assert sorted(every) == sorted(r.id for r in rows)  # each id exactly once


@PROPS
@given(outbox_items)
def test_group_requests_cover_every_row_once_in_small_uniform_batches(
    rows: list[OutboxItem],
) -> None:
    by_id = {row.id: row for row in rows}
    requests = plan_group_requests(rows)
    planned = [i for request in requests for i in request.row_ids]
    assert sorted(planned) == sorted(by_id)
    for request in requests:
        assert 1 <= len(request.row_ids) <= MAX_IDS_PER_GROUP_SET
        assert list(request.row_ids) == sorted(request.row_ids)
        members = [by_id[i] for i in request.row_ids]
        assert {(m.target, m.state, m.identifier_type) for m in members} == {
            (request.group_id, request.state, request.identifier_type)
        }
        assert request.identifiers == tuple(m.identifier for m in members)


# -------------------------------------------------------------------------- the export delta

NAMES = ("tier", "country", "score", "tags")
PLANNER = DeltaPlanner(
    plan_export(
        [{"profile": "external_id", "braze": "external_id"}],
        [{"source": "property", "name": n, "braze": f"b_{n}"} for n in NAMES],
        create_if_missing=True,
    )
)
attribute_values = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.integers(-100, 100),
    st.lists(st.text(max_size=3), max_size=3),
)
properties = st.fixed_dictionaries(dict.fromkeys(NAMES, attribute_values))


def profile(props: dict[str, Any], external_id: str = "user-1") -> ProfileView:
    return ProfileView(
        id=1, version=1, external_id=external_id, email=None, identifiers={}, properties=props
    )


def braze_state(props: dict[str, Any]) -> dict[str, Any]:
    return {f"b_{n}": v for n, v in props.items() if v is not None}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@PROPS
@given(properties, properties)
def test_the_delta_sends_only_changed_fields_and_lands_on_the_new_state(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    acked = PLANNER.delta(profile(old), None).hashes  # what Braze acknowledged last time
    delta = PLANNER.delta(profile(new), acked)
    before, after = braze_state(old), braze_state(new)
    changed = {
        key for key in {*before, *after} if canonical(before.get(key)) != canonical(after.get(key))
    }
    sent = delta.obj or {}
    assert set(delta.changed_fields) == changed
    if not changed:
        assert delta.obj is None
    else:
        assert sent["external_id"] == "user-1"
    applied = dict(before)
    for key in delta.changed_fields:
        if sent[key] is None:
            applied.pop(key, None)
        else:
            applied[key] = sent[key]
    assert applied == after


@PROPS
@given(properties)
def test_no_change_sends_nothing_and_a_new_user_gets_everything(props: dict[str, Any]) -> None:
    acked = PLANNER.delta(profile(props), None).hashes
    assert PLANNER.delta(profile(props), acked).obj is None
    moved = PLANNER.delta(profile(props, external_id="user-2"), acked)
    assert set(moved.changed_fields) == set(braze_state(props))
