"""Planning Braze requests from outbox rows: coalescing, grouping, chunking, backoff."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.domain.outbox_plan import (
    BACKOFF_CAP_SECONDS,
    OutboxItem,
    backoff_seconds,
    coalesce,
    plan_group_requests,
    plan_track_objects,
    retry_delay,
    settable_by_group_call,
)

GROUP = "3b2c0000-0000-4000-8000-000000000001"
OTHER = "7a1d0000-0000-4000-8000-000000000002"


def item(
    row_id: int, ident: str, state: str = "subscribed", target: str = GROUP, **kw
) -> OutboxItem:
    return OutboxItem(
        id=row_id,
        kind=kw.pop("kind", "subscription_group"),
        target=target,
        identifier_type=kw.pop("identifier_type", "external_id"),
        identifier=ident,
        state=state,
        **kw,
    )


def test_the_newest_change_per_key_wins() -> None:
    rows = [
        item(3, "u1", "subscribed"),
        item(1, "u1", "unsubscribed"),
        item(2, "u2", "subscribed"),
        item(7, "u1", "unsubscribed"),
        item(5, "u1", "subscribed", target=OTHER),
    ]
    plan = coalesce(rows)
    assert [(w.id, w.state) for w in plan.winners] == [
        (2, "subscribed"),
        (5, "subscribed"),
        (7, "unsubscribed"),
    ]
    assert sorted(plan.superseded) == [1, 3]


def test_coalescing_keeps_kinds_and_identifier_types_apart() -> None:
    rows = [
        item(1, "u1", kind="email_subscribe", target=""),
        item(2, "u1", kind="push_subscribe", target=""),
        item(3, "u1", identifier_type="email"),
        item(4, "u1"),
    ]
    assert coalesce(rows).superseded == []


def test_120_changes_to_one_group_and_state_make_three_requests() -> None:
    rows = [item(i, f"user-{i}") for i in range(1, 121)]
    requests = plan_group_requests(rows)
    assert [len(r.identifiers) for r in requests] == [50, 50, 20]
    assert all(r.group_id == GROUP and r.state == "subscribed" for r in requests)
    assert [i for r in requests for i in r.row_ids] == list(range(1, 121))
    assert requests[0].identifiers[0] == "user-1"


def test_mixed_states_groups_and_identifier_types_are_separate_requests() -> None:
    rows = [
        item(1, "a", "subscribed"),
        item(2, "b", "unsubscribed"),
        item(3, "c", "subscribed"),
        item(4, "d", "subscribed", target=OTHER),
        item(5, "e@example.com", "subscribed", identifier_type="email"),
    ]
    requests = {
        (r.group_id, r.state, r.identifier_type): r.identifiers for r in plan_group_requests(rows)
    }
    assert requests == {
        (GROUP, "subscribed", "external_id"): ("a", "c"),
        (GROUP, "unsubscribed", "external_id"): ("b",),
        (OTHER, "subscribed", "external_id"): ("d",),
        (GROUP, "subscribed", "email"): ("e@example.com",),
    }


@given(
    st.lists(st.tuples(st.sampled_from(["s", "u"]), st.sampled_from([GROUP, OTHER])), max_size=400)
)
def test_every_request_respects_the_50_id_cap_and_every_row_goes_once(specs) -> None:
    rows = [
        item(i, f"user-{i}", "subscribed" if s == "s" else "unsubscribed", target=g)
        for i, (s, g) in enumerate(specs)
    ]
    requests = plan_group_requests(rows)
    assert all(0 < len(r.identifiers) <= 50 for r in requests)
    assert sorted(i for r in requests for i in r.row_ids) == [r.id for r in rows]


def test_track_objects_merge_global_states_and_creations_per_user() -> None:
    rows = [
        item(1, "u1", "unsubscribed", kind="email_subscribe", target=""),
        item(2, "u1", "unsubscribed", kind="push_subscribe", target=""),
        item(3, "u2", "unsubscribed", kind="email_subscribe", target=""),
    ]
    objects = plan_track_objects(rows, {"u1": "jane@example.com", "u3": None})
    by_id = {o.identifier: o for o in objects}
    assert by_id["u1"].attributes == {
        "external_id": "u1",
        "_update_existing_only": False,
        "email_subscribe": "unsubscribed",
        "push_subscribe": "unsubscribed",
        "email": "jane@example.com",
    }
    assert by_id["u1"].row_ids == [1, 2] and by_id["u1"].creates_user
    assert by_id["u2"].row_ids == [3] and not by_id["u2"].creates_user
    assert by_id["u3"].attributes == {"external_id": "u3", "_update_existing_only": False}


def test_track_objects_do_not_create_users_unless_allowed() -> None:
    objects = plan_track_objects(
        [item(1, "u1", "unsubscribed", kind="email_subscribe", target="")],
        create_missing_users=False,
    )
    assert objects[0].attributes["_update_existing_only"] is True


def test_email_identified_non_email_groups_go_through_users_track() -> None:
    sms = item(1, "e@example.com", identifier_type="email", channel="sms")
    mail = item(2, "e@example.com", identifier_type="email", channel="email")
    assert not settable_by_group_call(sms) and settable_by_group_call(mail)
    (obj,) = plan_track_objects([sms])
    assert obj.attributes == {
        "email": "e@example.com",
        "subscription_groups": [
            {"subscription_group_id": GROUP, "subscription_state": "subscribed"}
        ],
    }


@pytest.mark.parametrize("attempts", range(1, 12))
def test_backoff_stays_within_full_jitter_bounds(attempts: int) -> None:
    ceiling = min(BACKOFF_CAP_SECONDS, 2.0 * 2 ** (attempts - 1))
    assert backoff_seconds(attempts, lambda: 0.0) == 0.0
    assert backoff_seconds(attempts, lambda: 1.0) == pytest.approx(ceiling)
    rng = random.Random(attempts)
    samples = [backoff_seconds(attempts, rng.random) for _ in range(500)]
    assert all(0.0 <= s <= ceiling for s in samples)
    assert max(samples) > ceiling * 0.8  # jitter spreads over the whole range


def test_backoff_is_capped_at_five_minutes() -> None:
    assert backoff_seconds(30, lambda: 1.0) == BACKOFF_CAP_SECONDS == 300.0


def test_retry_delay_never_comes_before_braze_asked() -> None:
    assert retry_delay(1, 42.0, lambda: 1.0) == 42.0
    assert retry_delay(8, 1.0, lambda: 1.0) == 256.0
    assert retry_delay(1, None, lambda: 0.5) == 1.0
