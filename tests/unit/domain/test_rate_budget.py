"""Token-bucket math and its correction from Braze's rate-limit headers."""

from __future__ import annotations

import pytest

from backend.domain.rate_budget import BucketState, bucket_spec, ceiling_from_headers, refill, take


def test_specs_follow_braze_limits_and_the_share() -> None:
    spec = bucket_spec("subscription_status_set", 0.8)
    assert spec.capacity == pytest.approx(200)
    assert spec.refill_per_second == pytest.approx((4000 - 200) / 60)
    track = bucket_spec("users_track", 1.0)
    assert track.capacity + track.refill_per_second * 3 == pytest.approx(3000)


def test_a_full_bucket_serves_its_capacity_then_queues() -> None:
    spec = bucket_spec("subscription_status_set", 0.6)  # 3000/min: capacity 150, 47.5/s
    state, waits = None, []
    for _ in range(152):
        state, wait = take(state, 1000.0, spec)
        waits.append(wait)
    assert waits[:150] == [0.0] * 150
    assert waits[150] == pytest.approx(1 / 47.5)
    assert waits[151] == pytest.approx(2 / 47.5)


def test_refill_is_linear_and_capped() -> None:
    spec = bucket_spec("subscription_status_set", 0.6)
    state = BucketState(tokens=-10.0, updated_at=100.0)
    assert refill(state, 100.1, spec).tokens == pytest.approx(-10.0 + 4.75)
    assert refill(state, 1000.0, spec).tokens == spec.capacity
    assert refill(state, 99.0, spec) == state  # clocks going back never add tokens


def test_a_window_never_exceeds_the_share_of_the_limit() -> None:
    spec = bucket_spec("subscription_status_set", 1.0)
    state, now, sent = None, 0.0, 0
    while now < 60.0:  # a greedy sender that waits exactly as told
        state, wait = take(state, now, spec)
        now += wait
        if now < 60.0:
            sent += 1
    assert 4750 <= sent <= 5000  # within the limit, and at least 95 % of it


def test_a_ceiling_clamps_the_tokens() -> None:
    spec = bucket_spec("users_track", 1.0)
    state, wait = take(None, 0.0, spec, cost=0.0, ceiling=-2 * spec.refill_per_second)
    assert wait == pytest.approx(2.0)
    state, wait = take(state, 1.0, spec)  # one second later, one more request
    assert wait == pytest.approx(1.0 + 1 / spec.refill_per_second)


def test_a_429_retry_after_empties_the_bucket_until_then() -> None:
    spec = bucket_spec("users_track", 0.5)
    ceiling = ceiling_from_headers(
        spec, 0.5, 0.0, limit=None, remaining=None, reset_at=None, retry_after=3.0
    )
    _, wait = take(None, 0.0, spec, cost=0.0, ceiling=ceiling)
    assert wait == pytest.approx(3.0)


def test_remaining_leaves_the_others_their_share() -> None:
    spec = bucket_spec("subscription_status_set", 0.8)
    # 5000 limit, 0.2 reserved for other clients (1000): 1300 remaining -> 300 for us.
    assert ceiling_from_headers(
        spec, 0.8, 0.0, limit=5000, remaining=1300, reset_at=60.0, retry_after=None
    ) == pytest.approx(300)
    # Nothing left for us: wait until the window resets.
    ceiling = ceiling_from_headers(
        spec, 0.8, 10.0, limit=5000, remaining=900, reset_at=40.0, retry_after=None
    )
    assert ceiling == pytest.approx(-30.0 * spec.refill_per_second)
    assert (
        ceiling_from_headers(
            spec, 0.8, 0.0, limit=None, remaining=None, reset_at=None, retry_after=None
        )
        is None
    )
