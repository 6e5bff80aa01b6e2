"""Token-bucket math for Braze's per-workspace request budget, corrected by its rate-limit headers.

The bucket holds a twentieth of the window's share and refills at the other 95 % over the window,
so a burst plus a full window of refill never exceeds ``share × limit`` in any window. Taking a
token may leave the bucket in debt: the caller waits until the debt is repaid, which queues
concurrent workers fairly.
"""

from __future__ import annotations

from dataclasses import dataclass

# Braze's documented default limits per workspace (braze_api.md §0.5): requests per window.
ENDPOINT_LIMITS: dict[str, tuple[int, float]] = {
    "subscription_status_set": (5000, 60.0),  # shared by v1 and v2
    "users_track": (3000, 3.0),
}
BURST_FRACTION = 0.05


@dataclass(frozen=True)
class BucketSpec:
    capacity: float
    refill_per_second: float


@dataclass(frozen=True)
class BucketState:
    tokens: float
    updated_at: float


def bucket_spec(endpoint: str, share: float) -> BucketSpec:
    limit, window = ENDPOINT_LIMITS[endpoint]
    share = min(1.0, max(0.01, share))
    per_window = limit * share
    capacity = max(1.0, per_window * BURST_FRACTION)
    return BucketSpec(capacity=capacity, refill_per_second=(per_window - capacity) / window)


def refill(state: BucketState | None, now: float, spec: BucketSpec) -> BucketState:
    if state is None:
        return BucketState(spec.capacity, now)
    if now <= state.updated_at:
        return state
    tokens = min(spec.capacity, state.tokens + (now - state.updated_at) * spec.refill_per_second)
    return BucketState(tokens, now)


def take(
    state: BucketState | None,
    now: float,
    spec: BucketSpec,
    cost: float = 1.0,
    ceiling: float | None = None,
) -> tuple[BucketState, float]:
    """Refill, clamp to ``ceiling`` (a header correction), take ``cost``; return the seconds to
    wait before the request may go out (0 when tokens were there)."""
    current = refill(state, now, spec)
    tokens = current.tokens if ceiling is None else min(current.tokens, ceiling)
    tokens -= cost
    wait = -tokens / spec.refill_per_second if tokens < 0 else 0.0
    return BucketState(tokens, current.updated_at), wait


def ceiling_from_headers(
    spec: BucketSpec,
    share: float,
    now: float,
    *,
    limit: int | None,
    remaining: int | None,
    reset_at: float | None,
    retry_after: float | None,
) -> float | None:
    """How many tokens the bucket may hold given what Braze said, or None to leave it alone.

    A 429's Retry-After empties the bucket until then. Otherwise we may use what remains minus
    the part of the workspace's budget left to others (1 - share); with nothing left, we wait
    for the window's reset.
    """
    if retry_after is not None and retry_after > 0:
        return -retry_after * spec.refill_per_second
    if remaining is None:
        return None
    reserve = (1.0 - share) * limit if limit else 0.0
    allowed = remaining - reserve
    if allowed > 0:
        return allowed
    if reset_at is not None and reset_at > now:
        return -(reset_at - now) * spec.refill_per_second
    return 0.0
