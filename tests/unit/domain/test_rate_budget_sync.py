"""The /users/track pacer: even spacing within the share, header corrections, 429 back-off."""

from __future__ import annotations

import pytest

from backend.domain.rate_budget_sync import RateBudget


def simulate(budget: RateBudget, seconds: float) -> list[float]:
    """Send as fast as the pacer allows for ``seconds``; the send times."""
    now, sent = 0.0, []
    while True:
        now = budget.reserve(now)
        if now >= seconds:
            return sent
        sent.append(now)


@pytest.mark.parametrize("share", [0.5, 0.8, 1.0])
def test_uses_its_share_and_never_tips_a_window_over(share: float) -> None:
    budget = RateBudget(limit=300, window=3.0, share=share)
    sent = simulate(budget, 30.0)
    assert len(sent) == pytest.approx(min(share, 0.98) * 300 / 3 * 30, rel=0.01)
    for start in sent:
        in_window = sum(1 for t in sent if start <= t < start + 3.0)
        assert in_window <= 300 * min(share, 0.98) * (1 + (1 - min(share, 0.98)) / 2) + 1
        assert in_window <= 300


def test_a_late_sender_may_catch_up_a_little() -> None:
    budget = RateBudget(limit=300, window=3.0, share=0.8)  # 80 req/s, 12.5 ms apart
    assert budget.tolerance == pytest.approx(0.25)
    budget.reserve(0.0)
    late = [budget.reserve(1.0) for _ in range(25)]  # woke up long after its slot
    assert late[:21] == [1.0] * 21  # 0.25 s worth of requests go at once …
    assert late[21:] == pytest.approx([1.0125, 1.025, 1.0375, 1.05])  # … then the even pace


def test_limit_from_headers_replaces_the_configured_one() -> None:
    budget = RateBudget(limit=3000, window=3.0, share=0.5)
    budget.observe(0.0, limit=30, remaining=29, reset_at=3.0)
    assert budget.rate == pytest.approx(5.0)


def test_holds_until_reset_when_others_used_the_window() -> None:
    budget = RateBudget(limit=100, window=10.0, share=0.8)
    budget.observe(1.0, limit=100, remaining=15, reset_at=10.0)  # others' 20 % of 9/10 = 18
    assert budget.reserve(1.0) == 10.0
    fresh = RateBudget(limit=100, window=10.0, share=0.8)
    fresh.observe(1.0, limit=100, remaining=60, reset_at=10.0)
    assert fresh.reserve(1.0) == 1.0


def test_429_holds_slows_down_and_recovers() -> None:
    budget = RateBudget(limit=300, window=3.0, share=1.0)
    full = budget.rate
    assert budget.throttle(5.0, 2.0) == 7.0
    assert budget.reserve(5.0) >= 7.0
    assert budget.rate == pytest.approx(full * 0.7)
    for t in range(8, 40, 3):
        budget.observe(float(t))
    assert budget.rate == pytest.approx(full)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        RateBudget(share=0)
    with pytest.raises(ValueError):
        RateBudget(limit=0)
