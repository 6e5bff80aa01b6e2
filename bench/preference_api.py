"""Preference API: saves per second and latency through the real WSGI server (``optline serve``),
on SQLite and on PostgreSQL (PRODUCT §4: ≥ 500 saves/s sustained, p95 ≤ 100 ms).

    python -m bench.preference_api [--seconds 30] [--rate 500] [--headroom-rate 550]
        [--db sqlite,postgresql]

Each database gets a fresh stack: migrated, configured with ``optline apply`` (one property,
three topics × two channels, a sandbox Braze connection), ``optline serve`` with the workers and
threads given. Visitors are thousands of freshly minted tokens; every request is a
``POST /api/public/v1/preferences`` that flips one choice of its visitor (subscribe, then
unsubscribe, …), so every save writes a preference, a ledger entry and an outbox row. The load
comes from a separate multi-process generator at a fixed rate (open loop). Afterwards the ledger's
hash chain is verified and its entries are counted against the choices the API said it wrote.
No worker runs: this measures the API; propagation has its own bench.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from bench.preference_cpu import CpuMeter
from bench.preference_load import Load, RequestFactory, generator_ceiling, run_load
from bench.preference_setup import GROUPS, ORIGIN, PROPERTY, Stack, document, mint_tokens, stack
from sqlalchemy import func, select

from backend.cli.run import SERVE_THREADS, SERVE_WORKERS

SAVE_PATH = "/api/public/v1/preferences"
CHOICES = sorted(GROUPS)
DEFAULT_WORKERS = SERVE_WORKERS  # ``optline serve``'s defaults
DEFAULT_THREADS = SERVE_THREADS


def save_factory(tokens: list[tuple[str, str]], host: str) -> Any:
    """``make(index, processes)`` for the generator: each process owns a slice of the visitors;
    a visitor's n-th save subscribes (n even) or unsubscribes (n odd) one fixed choice."""

    def make(index: int, processes: int) -> RequestFactory:
        mine = tokens[index::processes]

        def build(number: int) -> bytes:
            slot = number % len(mine)
            _, token = mine[slot]
            topic, channel = CHOICES[(slot * processes + index) % len(CHOICES)]
            state = "subscribed" if (number // len(mine)) % 2 == 0 else "unsubscribed"
            body = json.dumps(
                {
                    "property": PROPERTY,
                    "changes": [{"subscription": topic, "channel": channel, "state": state}],
                },
                separators=(",", ":"),
            ).encode()
            head = (
                f"POST {SAVE_PATH} HTTP/1.1\r\nHost: {host}\r\nOrigin: {ORIGIN}\r\n"
                f"User-Agent: Mozilla/5.0 (bench) optline-preference-api\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            return head.encode() + body

        return build

    return make


def _verify(current: Stack) -> dict[str, Any]:
    """Ledger chain verified, rows counted, in a process of our own (the server keeps running)."""
    from backend.db.models import LedgerEntry, OutboxEntry, Preference
    from backend.services.ledger import verify_chain
    from backend.settings import Settings
    from backend.wiring import build_deps

    settings = Settings.from_env(current.env)
    deps = build_deps(settings)
    report = verify_chain(deps)
    with deps.session() as session:
        counts = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (LedgerEntry, Preference, OutboxEntry)
        }
    engine = deps.sessions.kw.get("bind")
    if engine is not None:
        engine.dispose()
    return {"ledger_ok": report["ok"], "rows": counts}


def _other_visitors(load: Load, visitors: int, prefix: str, host: str) -> dict[str, Any]:
    """A further run on the same server with visitors of its own (so every save still writes),
    from other addresses (``load.source_base``: per-IP limits start afresh); its figures."""
    tokens = mint_tokens(visitors, prefix=prefix)
    result = run_load(load, save_factory(tokens, host)).summary()
    return {k: result[k] for k in ("throughput_per_s", "p50_ms", "p95_ms", "p99_ms", "error_rate")}


def measure(kind: str, *, seconds: float, rate: float, workers: int, threads: int,
            visitors: int, processes: int, connections: int,
            probe_seconds: float, headroom_rate: float = 0.0) -> dict[str, Any]:  # fmt: skip
    with stack(kind) as current:
        current.apply(document("https://rest.iad-03.braze.com", sandbox=True))
        base = current.serve(workers=workers, threads=threads)
        host = base.removeprefix("http://")
        port = int(host.rsplit(":", 1)[1])
        tokens = mint_tokens(visitors)
        load = Load("127.0.0.1", port, rate=rate, seconds=seconds, warmup=5.0,
                    processes=processes, connections=connections)  # fmt: skip
        meter = CpuMeter([current.processes[-1].pid])
        started = time.monotonic()
        meter.start()
        result = run_load(load, save_factory(tokens, host))
        window = time.monotonic() - started
        summary = result.summary()
        # The meter covers warm-up too: count its requests at the same rate.
        total = result.completed * window / load.seconds
        summary["cpu"] = meter.stop(window, int(total), result.cpu_seconds)
        summary["offered_per_s"] = rate
        summary["wall_seconds"] = round(time.monotonic() - started, 1)
        summary["server"] = {"workers": workers, "threads": threads, "server": "granian"}
        if headroom_rate > 0:
            # Above the target, on the same server: how much room is left.
            above = Load("127.0.0.1", port, rate=headroom_rate, seconds=seconds, warmup=5.0,
                         processes=processes, connections=connections,
                         source_base=120)  # fmt: skip
            summary["headroom"] = _other_visitors(above, visitors, "headroom", host)
            summary["headroom"]["offered_per_s"] = headroom_rate
        if probe_seconds > 0:
            # Closed loop, as fast as the server answers: its ceiling.
            probe = Load("127.0.0.1", port, rate=0, seconds=probe_seconds, warmup=1.0,
                         processes=processes, connections=connections // 2,
                         source_base=60)  # fmt: skip
            summary["closed_loop"] = _other_visitors(probe, visitors, "probe", host)
            summary["closed_loop"]["connections"] = processes * (connections // 2)
        summary.update(_verify(current))
        return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.preference_api")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--rate", type=float, default=500.0, help="offered saves per second (the target)"
    )
    parser.add_argument(
        "--headroom-rate", type=float, default=550.0,
        help="then offered on the same server, for the room above the target (0: not run)",
    )  # fmt: skip
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--visitors", type=int, default=4000)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--connections", type=int, default=32, help="per generator process")
    parser.add_argument("--probe-seconds", type=float, default=8.0, help="closed-loop ceiling")
    args = parser.parse_args(argv)
    from bench.common import machine

    out: dict[str, Any] = {"bench": "preference_api", "machine": machine()}
    tokens = mint_tokens(200)
    out["generator_ceiling"] = generator_ceiling(save_factory(tokens, "127.0.0.1"))
    print(json.dumps({"generator_ceiling": out["generator_ceiling"]}), flush=True)
    for kind in args.db.split(","):
        out[kind] = measure(
            kind, seconds=args.seconds, rate=args.rate, workers=args.workers,
            threads=args.threads, visitors=args.visitors, processes=args.processes,
            connections=args.connections, probe_seconds=args.probe_seconds,
            headroom_rate=args.headroom_rate,
        )  # fmt: skip
        print(json.dumps({kind: out[kind]}), flush=True)
    return out


if __name__ == "__main__":
    # The last line is the whole result, for ``python -m bench``.
    print(json.dumps(main()), flush=True)
