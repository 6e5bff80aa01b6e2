"""Pacing /users/track within a share of the workspace's request budget.

Braze documents 3,000 requests per 3 seconds for /users/track (braze_api.md §0.5), shared by
everything that writes to the workspace, so a sync uses only ``share`` of it (default 80 %).
Requests are spaced evenly (GCRA) with a small catch-up allowance for senders that wake late,
which keeps any fixed window Braze counts under its limit with room for others. Corrections,
from the rate-limit headers:

* ``X-RateLimit-Limit`` replaces the configured limit (contracts differ, fakes are scaled down);
* when ``X-RateLimit-Remaining`` falls to the part of the window that belongs to others, we hold
  until ``X-RateLimit-Reset``;
* a 429 holds for its Retry-After and cuts the pace by 30 %; each clean window gives back 10 %
  (the adaptive rule RudderStack's router uses, anchors_sync.md §2.2).

Pure: callers pass ``now`` and do the sleeping (and the locking, when threads share one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_LIMIT = 3000
DEFAULT_WINDOW = 3.0
MIN_FACTOR = 0.1
# Never plan a whole window: our clock and Braze's disagree a little, and a request that lands
# just before a window ends instead of just after would be the one over the limit.
MAX_SHARE = 0.98
# A sender that wakes up late may catch up by this much (never more than half the headroom the
# share leaves in a window), so scheduling jitter does not waste budget.
MAX_BURST_SECONDS = 0.25
CUT = 0.7
RECOVER = 0.1


@dataclass
class RateBudget:
    limit: int = DEFAULT_LIMIT
    window: float = DEFAULT_WINDOW
    share: float = 0.8
    factor: float = 1.0
    hold_until: float = 0.0
    _tat: float = 0.0  # theoretical arrival time of the next request (GCRA)
    _clean_since: float | None = None
    throttled: int = field(default=0)

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError("budget share must be in (0, 1]")
        if self.limit <= 0 or self.window <= 0:
            raise ValueError("limit and window must be positive")

    @property
    def rate(self) -> float:
        """Requests per second we allow ourselves now."""
        return min(self.share, MAX_SHARE) * self.limit / self.window * self.factor

    @property
    def interval(self) -> float:
        return 1.0 / self.rate

    @property
    def tolerance(self) -> float:
        """How far ahead of the even schedule a request may go (GCRA's tau), in seconds."""
        headroom = (1.0 - min(self.share, MAX_SHARE)) * self.window / 2
        return max(self.interval, min(MAX_BURST_SECONDS, headroom))

    def reserve(self, now: float) -> float:
        """Book the next request slot; returns when it may be sent (>= now)."""
        interval = self.interval
        send_at = max(now, self._tat - self.tolerance, self.hold_until)
        self._tat = max(self._tat, send_at) + interval
        return send_at

    def observe(
        self,
        now: float,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset_at: float | None = None,
    ) -> None:
        """Correct from a successful answer's rate-limit headers."""
        if limit is not None and limit > 0 and limit != self.limit:
            self.limit = limit
        if remaining is not None and reset_at is not None and reset_at > now:
            left = min(1.0, (reset_at - now) / self.window)
            others = (1.0 - self.share) * self.limit * left
            if remaining <= max(1.0, others):
                self.hold_until = max(self.hold_until, reset_at)
        if self.factor < 1.0:
            if self._clean_since is None:
                self._clean_since = now
            elif now - self._clean_since >= self.window:
                self.factor = min(1.0, self.factor + RECOVER)
                self._clean_since = now

    def throttle(self, now: float, retry_after: float | None) -> float:
        """A 429: hold for Retry-After (else one window) and slow down; returns the hold end."""
        wait = retry_after if retry_after is not None and retry_after >= 0 else self.window
        self.hold_until = max(self.hold_until, now + wait)
        self.factor = max(MIN_FACTOR, self.factor * CUT)
        self._clean_since = None
        self._tat = max(self._tat, self.hold_until)
        self.throttled += 1
        return self.hold_until
