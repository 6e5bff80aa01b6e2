"""Propagation: how long after a save's 200 Braze receives the change, and that none is lost
(PRODUCT §4: save → Braze request p95 ≤ 5 s with default settings; zero lost changes).

    python -m bench.preference_propagation [--seconds 30] [--rate 50] [--db sqlite]

Optline runs as in production — ``optline serve`` and one ``optline worker`` — with default
settings, against the HTTP Braze fake of the test suite served from this process. A subclass of
the fake notes when each ``/subscription/status/set`` arrives and the external ids it carries.
Saves come at a steady rate from a few client threads, each from a new visitor (one change per
save, over five subscription groups), so each change is one external id in one group. Afterwards
every change must have arrived and the fake's final group state must match it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bench.preference_load import percentile
from bench.preference_setup import (
    BRAZE_KEY,
    GROUPS,
    ORIGIN,
    PROPERTY,
    Stack,
    document,
    mint_tokens,
    stack,
)
from sqlalchemy import func, select

from backend.cli.run import SERVE_THREADS, SERVE_WORKERS
from tests.fakes.braze_fake import BrazeFake

CHOICES = sorted(GROUPS)
STATUS_SET = "/subscription/status/set"


class TimedFake(BrazeFake):
    """The Braze fake, noting when each accepted group change arrives (epoch seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[tuple[str, str, str], float] = {}  # (group, state, external id)
        self.calls: list[tuple[float, int, int]] = []  # arrival, ids, status
        self._arrival_lock = threading.Lock()

    def _respond(self, request: Any, raw: bytes, generation: int) -> Any:
        arrived = time.time()
        response = super()._respond(request, raw, generation)
        if request.path == STATUS_SET:
            body = json.loads(raw or b"{}")
            ids = body.get("external_id") or []
            with self._arrival_lock:
                self.calls.append((arrived, len(ids), response.status_code))
                if 200 <= response.status_code < 300:
                    for external_id in ids:
                        key = (
                            body["subscription_group_id"],
                            body["subscription_state"],
                            external_id,
                        )
                        self.arrivals.setdefault(key, arrived)
        return response


@dataclass(frozen=True)
class Change:
    external_id: str
    group: str
    state: str
    answered_at: float  # epoch seconds of the save's 200


def drive(base: str, seconds: float, rate: float, threads: int = 4) -> tuple[list[Change], int]:
    """Saves at ``rate`` a second for ``seconds``, each from a new visitor (and a new loopback
    address, as visitors have their own); returns (changes, failed saves)."""
    total = int(seconds * rate)
    tokens = mint_tokens(total, prefix="prop")
    host = base.removeprefix("http://")
    changes: list[Change] = []
    failures = [0]
    lock = threading.Lock()
    start = time.monotonic() + 0.5

    def client(offset: int) -> None:
        for number in range(offset, total, threads):
            due = start + number / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            external_id, token = tokens[number]
            topic, channel = CHOICES[number % len(CHOICES)]
            state = "subscribed" if (number // len(CHOICES)) % 2 == 0 else "unsubscribed"
            body = {
                "property": PROPERTY,
                "changes": [{"subscription": topic, "channel": channel, "state": state}],
            }
            source = (f"127.30.{number // 250 % 250}.{number % 250 + 1}", 0)
            conn = http.client.HTTPConnection(host, timeout=30, source_address=source)
            try:
                conn.request(
                    "POST", "/api/public/v1/preferences", json.dumps(body),
                    {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                     "Origin": ORIGIN},
                )  # fmt: skip
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                ok = False
            answered = time.time()
            conn.close()
            with lock:
                if ok:
                    changes.append(Change(external_id, GROUPS[(topic, channel)], state, answered))
                else:
                    failures[0] += 1

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return changes, failures[0]


def _outbox_waiting(current: Stack) -> int:
    from backend.db.engine import build_engine
    from backend.db.models import OutboxEntry

    engine = build_engine(current.database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.scalar(
                    select(func.count())
                    .select_from(OutboxEntry)
                    .where(OutboxEntry.status.in_(("pending", "in_flight")))
                )
                or 0
            )
    finally:
        engine.dispose()


def measure(kind: str, *, seconds: float, rate: float, drain_timeout: float) -> dict[str, Any]:
    with TimedFake() as fake, stack(kind) as current:
        fake.add_key(BRAZE_KEY)
        for (_, channel), group in GROUPS.items():
            fake.add_subscription_group(group, channel)
        current.apply(document(fake.url))  # default connection settings
        base = current.serve(workers=SERVE_WORKERS, threads=SERVE_THREADS)  # ``optline serve``'s
        current.worker()
        changes, failures = drive(base, seconds, rate)
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline and _outbox_waiting(current) > 0:
            time.sleep(0.5)
        waiting = _outbox_waiting(current)
        latencies, lost, wrong_state = [], 0, 0
        for change in changes:
            arrived = fake.arrivals.get((change.group, change.state, change.external_id))
            if arrived is None:
                lost += 1
                continue
            # The worker may beat the HTTP answer back to the client: that is 0, not negative.
            latencies.append(max(0.0, arrived - change.answered_at))
            if fake.group_state(change.group, external_id=change.external_id) != change.state:
                wrong_state += 1
        latencies.sort()
        statuses: dict[int, int] = defaultdict(int)
        ids_per_call = [n for _, n, _ in fake.calls]
        for _, _, status in fake.calls:
            statuses[status] += 1
        return {
            "saves": len(changes),
            "save_failures": failures,
            "rate_per_s": rate,
            "p50_s": _s(percentile(latencies, 0.50)),
            "p95_s": _s(percentile(latencies, 0.95)),
            "p99_s": _s(percentile(latencies, 0.99)),
            "max_s": _s(latencies[-1] if latencies else None),
            "lost": lost,
            "wrong_final_state": wrong_state,
            "outbox_still_waiting": waiting,
            "status_set_calls": len(fake.calls),
            "ids_per_call_mean": round(sum(ids_per_call) / max(1, len(ids_per_call)), 1),
            "status_set_statuses": {str(k): v for k, v in sorted(statuses.items())},
        }


def _s(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.preference_propagation")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=50.0, help="saves per second")
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    from bench.common import machine

    out: dict[str, Any] = {"bench": "preference_propagation", "machine": machine()}
    for kind in args.db.split(","):
        out[kind] = measure(
            kind, seconds=args.seconds, rate=args.rate, drain_timeout=args.drain_timeout
        )
        print(json.dumps({kind: out[kind]}), flush=True)
    return out


if __name__ == "__main__":
    # The last line is the whole result, for ``python -m bench``.
    print(json.dumps(main()), flush=True)
