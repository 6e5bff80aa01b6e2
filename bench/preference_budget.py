"""Braze request budget: how much of the allowed rate propagation uses, and how often Braze says
429 (PRODUCT §4: ≥ 90 % of the configured budget used, < 0.5 % of requests answered 429).

    python -m bench.preference_budget [--seconds 60] [--share 0.9] [--limit 100 --window 10]

One ``optline worker`` drains a backlog far larger than the budget allows, against the HTTP Braze
fake with ``/subscription/status/set`` scaled down to ``limit`` requests per ``window`` seconds
(a fixed window that starts with its first request, with ``X-RateLimit-*`` headers, as Braze
counts). Optline does not know that limit: its token bucket is sized for Braze's default
(5,000 a minute) and must learn the real one from the headers. The connection may use
``share`` of the workspace's budget, so the budget it is measured against is
``share × limit / window`` requests a second.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench.preference_propagation import TimedFake
from bench.preference_setup import BRAZE_KEY, GROUPS, Stack, document, stack
from sqlalchemy import insert, select

CHOICES = sorted(GROUPS)
IDS_PER_CALL = 50


def seed_backlog(current: Stack, calls: int) -> int:
    """Pending outbox rows for ``calls`` full ``/subscription/status/set`` calls (50 distinct
    visitors each, over every group and both states); returns the connection id."""
    from backend.db.engine import build_engine
    from backend.db.models import BrazeConnection, OutboxEntry

    engine = build_engine(current.database_url)
    now = datetime.now(UTC)
    rows = []
    for call in range(calls):
        topic, channel = CHOICES[call % len(CHOICES)]
        state = "subscribed" if (call // len(CHOICES)) % 2 == 0 else "unsubscribed"
        for n in range(IDS_PER_CALL):
            rows.append(
                {"connection_id": 0, "subject_id": None, "preference_id": None,
                 "kind": "subscription_group", "target": GROUPS[(topic, channel)],
                 "identifier_type": "external_id", "identifier": f"budget-{call:05d}-{n:02d}",
                 "state": state, "payload": {"channel": channel}, "status": "pending",
                 "attempts": 0, "created_at": now, "next_attempt_at": now}
            )  # fmt: skip
    try:
        with engine.begin() as conn:
            connection_id = conn.scalar(select(BrazeConnection.id))
            assert connection_id is not None
            for row in rows:
                row["connection_id"] = connection_id
            for start in range(0, len(rows), 5000):
                conn.execute(insert(OutboxEntry), rows[start : start + 5000])
    finally:
        engine.dispose()
    return int(connection_id)


def kick(current: Stack, connection_id: int) -> None:
    """Enqueue the connection's propagation now (the outbox sweeper would, within 15 s)."""
    from backend.services.propagation import enqueue_propagation
    from backend.settings import Settings
    from backend.wiring import build_deps

    deps = build_deps(Settings.from_env(current.env))
    enqueue_propagation(deps, [connection_id])


def _start(current: Stack, connection_id: int, fake: TimedFake, timeout: float = 60) -> None:
    """Kick propagation until the first request arrives: a job enqueued while the worker was
    still settling in is kicked again every 10 s (the sweeper, which would, is not running)."""
    deadline = time.monotonic() + timeout
    while not fake.calls:
        if time.monotonic() > deadline:
            log = (current.workdir / "worker.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the worker sent nothing within {timeout:g} s; its log:\n{log}")
        kick(current, connection_id)
        until = min(deadline, time.monotonic() + 10)
        while not fake.calls and time.monotonic() < until:
            time.sleep(0.05)


def measure(
    kind: str, *, seconds: float, share: float, limit: int, window: float
) -> dict[str, Any]:
    allowed_per_s = share * limit / window
    calls_needed = int(allowed_per_s * (seconds + 30)) + 50  # more than can go out meanwhile
    with TimedFake() as fake, stack(kind) as current:
        fake.add_key(BRAZE_KEY)
        for (_, channel), group in GROUPS.items():
            fake.add_subscription_group(group, channel)
        fake.set_rate_limit("subscription.status.set", limit, window)
        current.apply(document(fake.url, budget_share=share, create_missing_users=False))
        connection_id = seed_backlog(current, calls_needed)
        current.worker()
        _start(current, connection_id, fake)
        first = fake.calls[0][0]
        time.sleep(max(0.0, first + seconds - time.time()) + 0.5)
        calls = [c for c in list(fake.calls) if first <= c[0] < first + seconds]
        current.stop()
    statuses = Counter(status for _, _, status in calls)
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    throttled = statuses.get(429, 0)
    return {
        "seconds": seconds,
        "limit": f"{limit} per {window:g} s",
        "budget_share": share,
        "allowed_per_s": round(allowed_per_s, 2),
        "sent_per_s": round(len(calls) / seconds, 2),
        "accepted_per_s": round(ok / seconds, 2),
        "budget_used": round(ok / seconds / allowed_per_s, 3),
        "requests": len(calls),
        "answered_429": throttled,
        "share_429": round(throttled / max(1, len(calls)), 4),
        "ids_per_call_mean": round(sum(n for _, n, _ in calls) / max(1, len(calls)), 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.preference_budget")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--share", default="0.9", help="budget shares to run, comma-separated")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--db", default="sqlite")
    args = parser.parse_args(argv)
    from bench.common import machine

    out: dict[str, Any] = {"bench": "preference_budget", "machine": machine(), "runs": []}
    for share in (float(s) for s in args.share.split(",")):
        result = measure(
            args.db, seconds=args.seconds, share=share, limit=args.limit, window=args.window
        )
        out["runs"].append(result)
        print(json.dumps(result), flush=True)
    return out


if __name__ == "__main__":
    # The last line is the whole result, for ``python -m bench``.
    print(json.dumps(main()), flush=True)
