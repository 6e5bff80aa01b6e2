"""Sending /users/track batches: a few at a time, paced within the budget, retried when Braze
asks us to wait.

A 429 never fails a run: the batch waits for Retry-After (the pacer slows down for everyone)
and goes again — safe because export objects carry absolute values only. Other retryable
failures (5xx, timeouts) are retried with exponential backoff a bounded number of times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from backend.domain.errors import ItemError, PermanentError, RetryableError
from backend.domain.rate_budget_sync import RateBudget
from backend.integrations.braze import to_item_errors
from backend.services.sync_common import SyncRunFailedError


@dataclass(frozen=True)
class SenderTuning:
    concurrency: int = 4
    retries: int = 6  # 5xx / timeouts per batch
    max_throttled_seconds: float = 900.0  # a batch 429'd for this long fails the run


class TrackSender:
    """Owns the pacer and a small thread pool; ``submit`` returns the batch's rejected items."""

    def __init__(
        self,
        client: Any,
        budget: RateBudget,
        tuning: SenderTuning,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client, self.budget, self.tuning = client, budget, tuning
        self._clock, self._sleep, self._wall = clock, sleep, wall
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=tuning.concurrency, thread_name_prefix="track")
        self.requests = 0
        self.throttled = 0

    def submit(self, objects: Sequence[Mapping[str, Any]]) -> Future[list[ItemError]]:
        return self._pool.submit(self._send, objects)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _pace(self) -> None:
        with self._lock:
            at = self.budget.reserve(self._clock())
        wait = at - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _send(self, objects: Sequence[Mapping[str, Any]]) -> list[ItemError]:
        failures, throttled_since = 0, None
        while True:
            self._pace()
            with self._lock:
                self.requests += 1
            try:
                result = self.client.users_track(attributes=objects)
            except RetryableError as exc:
                now = self._clock()
                if exc.status == 429:
                    throttled_since = throttled_since or now
                    if now - throttled_since > self.tuning.max_throttled_seconds:
                        raise SyncRunFailedError(
                            f"Braze kept answering 429 for {now - throttled_since:.0f}s"
                        ) from exc
                    with self._lock:
                        self.throttled += 1
                        self.budget.throttle(now, exc.retry_after)
                    continue
                failures += 1
                if failures > self.tuning.retries:
                    raise SyncRunFailedError(f"users/track failed {failures} times: {exc}") from exc
                self._sleep(
                    exc.retry_after if exc.retry_after is not None else min(2.0**failures, 60.0)
                )
                continue
            except PermanentError as exc:
                if exc.errors:  # 400: no object of the batch was valid; each one is named
                    return to_item_errors(exc.errors)
                raise
            rate = result.rate
            now = self._clock()
            reset = None if rate.reset_at is None else now + (rate.reset_at - self._wall())
            with self._lock:
                self.budget.observe(now, limit=rate.limit, remaining=rate.remaining, reset_at=reset)
            return list(result.errors)
