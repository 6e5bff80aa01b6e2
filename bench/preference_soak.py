"""Load and soak: the widget API and the tag at the target rate for a bounded time, in
production shape, watching latency, errors and the memory of every Optline process
(PRODUCT §4: ≥ 500 saves/s sustained, p95 ≤ 100 ms; the readiness issue: no memory growth).

    python -m bench.preference_soak [--seconds 300] [--rate 500] [--db postgresql]

One fresh stack (``bench.preference_setup``): a new PostgreSQL database (or SQLite file), a Redis
db of its own, the bench configuration applied with ``optline apply`` and a Braze connection to
the HTTP Braze fake of the test suite, served from this process with default settings, so
propagation really runs. Optline runs as in production: ``optline serve`` (granian)
and one ``optline worker`` (RQ worker with its scheduler; each job in a forked work horse).

The open-loop generator of ``bench.preference_load`` (its processes, keep-alive connections from
many loopback addresses, latency counted from when a request was due) offers a fixed mix:
saves (``POST /api/public/v1/preferences``, each flipping one choice of its visitor), bootstrap
calls, and tag fetches (``GET /t/<property>.js``), half of them revalidations with
``If-None-Match`` (a 304 is their success). A warm-up at the same rate comes first and is not
counted. Every request due in the window is accounted for: answered, failed, still out after a
10 s grace, or never sent because the server fell behind the rate ("unsent": an open loop does
not slow down for a slow server). ``--probe-seconds N`` first runs the same mix closed loop for
N seconds: the ceiling of this machine at that moment.

The resident set (``VmRSS`` of ``/proc/<pid>/status``) of the web server's main process, every web
worker, the RQ worker, its scheduler and any work horse alive is sampled before the load, after
the warm-up ("start"), every ``--sample-every`` seconds, when the load stops ("end") and once the
outbox has drained. Verdict: "no growth" when every long-lived process grew by less than
``--tolerance-mb`` (20 MB) from start to end: an absolute bound because what a Python process
legitimately fills after warm-up (allocator arenas, SQLAlchemy's statement cache, pools) is a
few MB whatever its size, while a leak of a few hundred bytes per request — 20 MB over the
~75,000 requests a web worker serves in the default five minutes — crosses it.

Afterwards: the outbox must drain within ``--drain-timeout`` (pending, in flight and dead all 0),
the fake's final state of every (visitor, group) must equal Optline's, and the ledger's hash
chain must verify. One JSON summary goes to stdout; the exit status is non-zero only when the
harness itself failed, never for a missed target.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.request
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from bench.preference_cpu import TICK, _busy_total, _children, _named, _ticks
from bench.preference_load import (
    _SAVED,
    Load,
    RequestFactory,
    _Conn,
    _Worker,
    percentile,
)
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

SAVE_PATH = "/api/public/v1/preferences"
BOOTSTRAP_PATH = "/api/public/v1/bootstrap"
TAG_PATH = f"/t/{PROPERTY}.js"
CHOICES = sorted(GROUPS)
KINDS = ("save", "bootstrap", "tag", "tag_revalidate")
TARGET_SAVES_PER_S = 500.0
TARGET_P95_MS = 100.0
TARGET_ERROR_RATE = 0.001  # PRODUCT §4 names no error rate; "sustained" is read as < 0.1 %
MAX_LOAD_SECONDS = 600.0  # the readiness issue: ten minutes at most
SOAK_REDIS_DB = 12
PATTERN_LENGTH = 240
GRACE_SECONDS = 10.0  # after the window, for answers still out


# -- the mix ---------------------------------------------------------------------------------------


def mix_pattern(rates: dict[str, float], length: int = PATTERN_LENGTH) -> list[str]:
    """Kinds in proportion to their rates, spread evenly over a cycle (smooth weighted
    round robin), so every short stretch of requests carries the mix."""
    total = sum(rates.values())
    weights = {k: v / total for k, v in rates.items() if v > 0}
    credit = dict.fromkeys(weights, 0.0)
    pattern = []
    for _ in range(length):
        for kind, weight in weights.items():
            credit[kind] += weight
        chosen = max(credit, key=lambda k: credit[k])
        credit[chosen] -= 1.0
        pattern.append(chosen)
    return pattern


def mix_factory(
    tokens: list[tuple[str, str]], host: str, pattern: list[str], etag: str
) -> Callable[[int, int], RequestFactory]:
    """``make(index, processes)`` for the generator. Each process owns a slice of the visitors;
    a visitor's n-th save subscribes (n even) or unsubscribes (n odd) one fixed choice, so every
    save writes a preference, a ledger entry and an outbox row."""

    def make(index: int, processes: int) -> RequestFactory:
        mine = tokens[index::processes]
        counts = Counter[str]()
        common = f"Host: {host}\r\nUser-Agent: Mozilla/5.0 (bench) optline-soak\r\n"

        def post(path: str, token: str, payload: dict[str, Any]) -> bytes:
            body = json.dumps(payload, separators=(",", ":")).encode()
            head = (
                f"POST {path} HTTP/1.1\r\n{common}Origin: {ORIGIN}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            return head.encode() + body

        def build(number: int) -> bytes:
            kind = pattern[number % len(pattern)]
            n = counts[kind]
            counts[kind] += 1
            if kind == "save":
                slot = n % len(mine)
                topic, channel = CHOICES[(slot * processes + index) % len(CHOICES)]
                state = "subscribed" if (n // len(mine)) % 2 == 0 else "unsubscribed"
                change = {"subscription": topic, "channel": channel, "state": state}
                return post(SAVE_PATH, mine[slot][1], {"property": PROPERTY, "changes": [change]})
            if kind == "bootstrap":
                token = mine[(n * 7919) % len(mine)][1]
                return post(BOOTSTRAP_PATH, token, {"property": PROPERTY, "language": "en"})
            extra = f"If-None-Match: {etag}\r\n" if kind == "tag_revalidate" else ""
            return f"GET {TAG_PATH} HTTP/1.1\r\n{common}Accept: */*\r\n{extra}\r\n".encode()

        return build

    return make


# -- the generator, per request kind -----------------------------------------------------------


class _KindConn(_Conn):
    __slots__ = ("kind",)

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.kind = ""


def _stats() -> dict[str, Any]:
    return {
        "latencies": [],
        "buckets": {},  # seconds into the window // bucket -> latencies
        "statuses": {},
        "bad_status": 0,  # answered, but not with the kind's success status
        "conn_errors": 0,  # send failed or connection closed before the answer
        "unanswered": 0,  # still out when the grace period ended
        "unsent": 0,  # still queued in the generator when the grace period ended (overload)
        "answered_any_time": 0,  # successes whenever due (warm-up and backlog included)
    }


class _MixWorker(_Worker):
    """``bench.preference_load``'s open loop (its connections, addresses and clock), with the
    figures kept per kind of request — a 304 is the success of a revalidation — and every
    request due in the window accounted for: answered, failed, unanswered or never sent
    because the server fell behind (the plain loop drops that last kind from its counts)."""

    def __init__(self, load: Load, index: int, factory: RequestFactory, pattern: list[str],
                 bucket_seconds: float) -> None:  # fmt: skip
        super().__init__(load, index, factory)
        self.pattern = pattern
        self.bucket_seconds = bucket_seconds
        self.by_kind = {kind: _stats() for kind in KINDS}
        self.saved_all = 0  # choices written, warm-up included (for the ledger count)

    def _connect(self) -> _Conn:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self._source(), 0))
        sock.connect((self.load.host, self.load.port))
        self.open += 1
        return _KindConn(sock)

    def _in_window(self, due: float) -> bool:
        return bool(self.window_start <= due < self.window_end)

    def _send_mix(self, conn: _KindConn, due: float, number: int) -> None:
        conn.due, conn.buffer, conn.need = due, b"", -1
        conn.kind = self.pattern[number % len(self.pattern)]
        conn.used += 1
        try:
            conn.sock.sendall(self.factory(number))
        except OSError:
            self._fail(conn)
            return
        self.sel.register(conn.sock, selectors.EVENT_READ, conn)

    def _fail(self, conn: _Conn) -> None:
        if isinstance(conn, _KindConn) and self._in_window(conn.due):
            self.by_kind[conn.kind]["conn_errors"] += 1
        self._close(conn)

    def _account(self, conn: _Conn, status: int, now: float) -> None:
        assert isinstance(conn, _KindConn)
        ok = status == 304 if conn.kind == "tag_revalidate" else 200 <= status < 300
        if ok:
            self.by_kind[conn.kind]["answered_any_time"] += 1
        if ok and conn.kind == "save":
            saved = _SAVED.search(conn.buffer, conn.body)
            self.saved_all += int(saved.group(1)) if saved else 0
        if self._in_window(conn.due):
            stats = self.by_kind[conn.kind]
            stats["statuses"][status] = stats["statuses"].get(status, 0) + 1
            if ok:
                latency = now - conn.due
                stats["latencies"].append(latency)
                slot = int((conn.due - self.window_start) // self.bucket_seconds)
                stats["buckets"].setdefault(slot, []).append(latency)
            else:
                stats["bad_status"] += 1

    def run(self) -> dict[str, Any]:
        load = self.load
        start = time.monotonic() + 0.2
        self.window_start = start + load.warmup
        self.window_end = end = self.window_start + load.seconds
        interval = load.processes / load.rate if load.rate > 0 else 0.0
        # Stagger the processes so their requests interleave.
        next_due = start + (interval * self.index / load.processes if interval else 0.0)
        waiting: deque[tuple[float, int]] = deque()  # (due, request number)
        number = 0
        while True:
            now = time.monotonic()
            if interval:
                while next_due <= now and next_due < end:
                    waiting.append((next_due, number))
                    number += 1
                    next_due += interval
            elif now < end:
                # Closed loop: every connection always has a request out.
                free = len(self.idle) + load.connections - self.open - len(waiting)
                for _ in range(max(0, free)):
                    waiting.append((now, number))
                    number += 1
            while waiting and (self.idle or self.open < load.connections):
                conn = self.idle.popleft() if self.idle else self._connect()
                assert isinstance(conn, _KindConn)
                self._send_mix(conn, *waiting.popleft())
            busy = self.open - len(self.idle)
            if now >= end and not waiting and busy == 0:
                break
            if now >= end + GRACE_SECONDS:
                break
            timeout = 0.05
            if interval and next_due < end:
                timeout = max(0.0, min(timeout, next_due - now))
            for key, _ in self.sel.select(timeout):
                self._read(key.data, time.monotonic())
        for key in list(self.sel.get_map().values()):
            conn = key.data
            if self._in_window(conn.due):
                self.by_kind[conn.kind]["unanswered"] += 1
            self._close(conn)
        for due, n in waiting:
            if self._in_window(due):
                self.by_kind[self.pattern[n % len(self.pattern)]]["unsent"] += 1
        for conn in list(self.idle):
            self._close(conn)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "by_kind": self.by_kind,
            "saved_all": self.saved_all,
            "seconds": time.monotonic() - start,
            "cpu": usage.ru_utime + usage.ru_stime,
        }


def _child(load: Load, index: int, make: Callable[[int, int], RequestFactory],
           pattern: list[str], bucket_seconds: float, conn: Any) -> None:  # fmt: skip
    try:
        worker = _MixWorker(load, index, make(index, load.processes), pattern, bucket_seconds)
        conn.send(worker.run())
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send({"error": repr(exc)})
    finally:
        conn.close()


def run_mix(load: Load, make: Callable[[int, int], RequestFactory], pattern: list[str],
            bucket_seconds: float) -> dict[str, Any]:  # fmt: skip
    """Like ``preference_load.run_load``, merged per kind."""
    ctx = multiprocessing.get_context("fork")
    pipes, children = [], []
    for index in range(load.processes):
        parent, child = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_child, args=(load, index, make, pattern, bucket_seconds, child), daemon=True
        )
        process.start()
        child.close()
        pipes.append(parent)
        children.append(process)
    parts = [pipe.recv() for pipe in pipes]
    for process in children:
        process.join(timeout=10)
    failed = [p["error"] for p in parts if "error" in p]
    if failed:
        raise RuntimeError(f"load generator failed: {failed[0]}")
    merged = {kind: _stats() for kind in KINDS}
    for part in parts:
        for kind, stats in part["by_kind"].items():
            into = merged[kind]
            into["latencies"].extend(stats["latencies"])
            for name in ("bad_status", "conn_errors", "unanswered", "unsent", "answered_any_time"):
                into[name] += stats[name]
            for status, count in stats["statuses"].items():
                into["statuses"][status] = into["statuses"].get(status, 0) + count
            for slot, values in stats["buckets"].items():
                into["buckets"].setdefault(slot, []).extend(values)
    return {
        "by_kind": merged,
        "saved_all": sum(p["saved_all"] for p in parts),
        "cpu_seconds": sum(p["cpu"] for p in parts),
        "seconds": max(p["seconds"] for p in parts),
        "requests": sum(
            len(s["latencies"]) + s["bad_status"] + s["conn_errors"] for s in merged.values()
        ),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def kind_summary(
    stats: dict[str, Any], seconds: float, bucket_seconds: float, run_seconds: float = 0.0
) -> dict[str, Any]:
    """Figures of one kind over the window; ``answered_per_s_whole_run``: successes whenever
    due over the whole run (warm-up, window, grace) — what the server did manage when it fell
    behind an open-loop rate."""
    lat = sorted(stats["latencies"])
    ok = len(lat)
    failed = stats["bad_status"] + stats["conn_errors"] + stats["unanswered"] + stats["unsent"]
    due = ok + failed
    out: dict[str, Any] = {
        "requests_due": due,
        "ok": ok,
        "offered_per_s": round(due / seconds, 1),
        "throughput_per_s": round(ok / seconds, 1),
        "p50_ms": _ms(percentile(lat, 0.50)),
        "p95_ms": _ms(percentile(lat, 0.95)),
        "p99_ms": _ms(percentile(lat, 0.99)),
        "max_ms": _ms(lat[-1] if lat else None),
        "error_rate": round(failed / due, 5) if due else None,
        "errors": {k: stats[k] for k in ("bad_status", "conn_errors", "unanswered", "unsent")},
        "statuses": {str(k): v for k, v in sorted(stats["statuses"].items())},
    }
    trend = []
    for slot in sorted(stats["buckets"]):
        values = sorted(stats["buckets"][slot])
        trend.append(
            [
                round(slot * bucket_seconds),
                round(len(values) / bucket_seconds, 1),
                _ms(percentile(values, 0.95)),
            ]
        )
    if run_seconds:
        out["answered_per_s_whole_run"] = round(stats["answered_any_time"] / run_seconds, 1)
    out["trend_t_rate_p95"] = trend
    return out


# -- memory and CPU of the processes -----------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    """VmRSS and RssAnon of a process, KiB; empty when it is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(("VmRSS:", "RssAnon:")):
                    name, value = line.split(":", 1)
                    out[name] = int(value.split()[0])
    except OSError:
        return {}
    return out


def _start_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(_children(current))
    return out


class Processes:
    """Optline's processes by role: the web server's main process and its workers; the RQ
    worker, its scheduler (a child forked at start) and its work horses (a child per job)."""

    def __init__(self, web_pid: int, worker_pid: int) -> None:
        self.web_pid, self.worker_pid = web_pid, worker_pid
        self.worker_started = _start_ticks(worker_pid)

    def roles(self) -> dict[int, str]:
        out = {self.web_pid: "web-master", self.worker_pid: "rq-worker"}
        for pid in _tree(self.web_pid)[1:]:
            out[pid] = "web-worker"
        for pid in _tree(self.worker_pid)[1:]:
            # The scheduler forks within seconds of the worker; horses fork per job, later.
            early = _start_ticks(pid) - self.worker_started < 5 * TICK
            out[pid] = "rq-scheduler" if early else "rq-horse"
        return out

    def ticks(self) -> dict[str, int]:
        """CPU ticks of the web tree, the worker tree (reaped horses included), PostgreSQL,
        Redis, and the machine."""
        return {
            "web": sum(_ticks(p) for p in _tree(self.web_pid)),
            "worker": sum(_ticks(p) for p in _tree(self.worker_pid)),
            "postgres": sum(_ticks(p) for p in _named("postgres")),
            "redis": sum(_ticks(p) for p in _named("redis-server")),
            "bench_fake_and_generator": _ticks(os.getpid()),  # reaped generators included
            "busy": _busy_total(),
        }


class MemorySampler(threading.Thread):
    """Samples the RSS of every Optline process now, at the given moments (monotonic time) and
    every ``every`` seconds in between, until stopped."""

    def __init__(self, processes: Processes, every: float) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.processes, self.every = processes, every
        self.samples: list[dict[str, Any]] = []
        self.origin = time.monotonic()
        self.marks: dict[float, str] = {}
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def snapshot(self, label: str) -> dict[str, Any]:
        procs = {}
        for pid, role in sorted(self.processes.roles().items()):
            status = _status(pid)
            if status:
                procs[str(pid)] = {
                    "role": role,
                    "rss_kb": status.get("VmRSS", 0),
                    "anon_kb": status.get("RssAnon", 0),
                }
        sample = {"t": round(time.monotonic() - self.origin, 1), "label": label, "procs": procs}
        with self._lock:
            self.samples.append(sample)
        return sample

    def run(self) -> None:
        next_at = time.monotonic() + self.every
        while not self._stop_event.is_set():
            now = time.monotonic()
            due_marks = sorted(t for t in self.marks if t <= now)
            for at in due_marks:
                self.snapshot(self.marks.pop(at))
            if now >= next_at:
                self.snapshot("periodic")
                next_at += self.every
            upcoming = min([next_at, *self.marks])
            self._stop_event.wait(max(0.0, min(1.0, upcoming - time.monotonic())))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def memory_report(samples: list[dict[str, Any]], tolerance_mb: float) -> dict[str, Any]:
    """Per process: before the load, start (after warm-up), end (load stopped), after the drain,
    max, growth start → end and over the second half of the run; the verdict."""
    start = next(i for i, s in enumerate(samples) if s["label"] == "start")
    end = next(i for i, s in enumerate(samples) if s["label"] == "end")
    middle = samples[(start + end) // 2]
    mb = 1024.0
    per_process: dict[str, Any] = {}
    horses: dict[str, int] = {}
    for sample in samples:
        for pid, proc in sample["procs"].items():
            if proc["role"] == "rq-horse":
                horses[pid] = max(horses.get(pid, 0), proc["rss_kb"])
    grown: list[str] = []
    replaced: list[str] = []
    for pid, proc in samples[start]["procs"].items():
        if proc["role"] == "rq-horse":
            continue
        name = f"{proc['role']}[{pid}]"
        series = [s["procs"][pid]["rss_kb"] for s in samples[start : end + 1] if pid in s["procs"]]
        last = samples[end]["procs"].get(pid)
        if last is None:
            replaced.append(name)
            per_process[name] = {"start_mb": round(proc["rss_kb"] / mb, 1), "end_mb": None}
            continue
        before = samples[0]["procs"].get(pid)
        after = samples[-1]["procs"].get(pid) if samples[-1]["label"] == "drained" else None
        growth = (last["rss_kb"] - proc["rss_kb"]) / mb
        mid = middle["procs"].get(pid)
        per_process[name] = {
            "before_warmup_mb": round(before["rss_kb"] / mb, 1) if before else None,
            "start_mb": round(proc["rss_kb"] / mb, 1),
            "end_mb": round(last["rss_kb"] / mb, 1),
            "max_mb": round(max(series) / mb, 1),
            "drained_mb": round(after["rss_kb"] / mb, 1) if after else None,
            "growth_mb": round(growth, 1),
            "growth_pct": round(100 * growth * mb / proc["rss_kb"], 1),
            "growth_second_half_mb": (
                round((last["rss_kb"] - mid["rss_kb"]) / mb, 1) if mid else None
            ),
            "anon_growth_mb": round((last["anon_kb"] - proc["anon_kb"]) / mb, 1),
            "series_mb": [round(v / mb, 1) for v in series],
        }
        if growth >= tolerance_mb:
            grown.append(name)
    # Processes that appeared after the start (a replaced web worker, say).
    for pid, proc in samples[end]["procs"].items():
        if proc["role"] != "rq-horse" and pid not in samples[start]["procs"]:
            replaced.append(f"{proc['role']}[{pid}] (new)")
    verdict = "no growth" if not grown and not replaced else "growth: " + ", ".join(grown)
    if replaced:
        verdict += "; processes replaced: " + ", ".join(replaced)
    return {
        "verdict": verdict,
        "tolerance": f"growth start → end < {tolerance_mb:g} MB VmRSS per long-lived process",
        "start_t_s": samples[start]["t"],
        "end_t_s": samples[end]["t"],
        "samples": len(samples),
        "processes": per_process,
        "work_horses_seen": len(horses),
        "work_horse_max_mb": round(max(horses.values()) / mb, 1) if horses else None,
    }


# -- checks after the load ---------------------------------------------------------------------


def _deps(current: Stack) -> Any:
    from backend.settings import Settings
    from backend.wiring import build_deps

    return build_deps(Settings.from_env(current.env))


def _dispose(deps: Any) -> None:
    engine = deps.sessions.kw.get("bind")
    if engine is not None:
        engine.dispose()


def outbox_counts(deps: Any) -> dict[str, int]:
    from backend.db.models import OutboxEntry

    with deps.session() as session:
        rows = session.execute(
            select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)
        ).all()
    return {str(status): int(count) for status, count in rows}


def drain(deps: Any, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    while True:
        counts = outbox_counts(deps)
        waiting = counts.get("pending", 0) + counts.get("in_flight", 0)
        elapsed = time.monotonic() - started
        if waiting == 0 or elapsed >= timeout:
            break
        time.sleep(1.0)
    return {
        "drained": waiting == 0,
        "seconds": round(elapsed, 1),
        "timeout_s": timeout,
        "outbox": counts,
        "pending": counts.get("pending", 0),
        "in_flight": counts.get("in_flight", 0),
        "dead": counts.get("dead", 0),
    }


def final_states(deps: Any, fake: BrazeFake) -> dict[str, Any]:
    """Optline's state of every (visitor, topic, channel) against the fake's group state."""
    from backend.db.models import Preference, Subject, Subscription

    with deps.session() as session:
        rows = session.execute(
            select(Subject.external_id, Subscription.code, Preference.channel, Preference.state)
            .join(Subject, Subject.id == Preference.subject_id)
            .join(Subscription, Subscription.id == Preference.subscription_id)
        ).all()
    missing = wrong = 0
    for external_id, code, channel, state in rows:
        got = fake.group_state(GROUPS[(code, channel)], external_id=external_id)
        if got is None:
            missing += 1
        elif got != state:
            wrong += 1
    return {"preferences": len(rows), "never_reached_fake": missing, "wrong_state": wrong}


def ledger(deps: Any) -> dict[str, Any]:
    from backend.db.models import LedgerEntry
    from backend.services.ledger import verify_chain

    started = time.monotonic()
    report = verify_chain(deps)
    with deps.session() as session:
        entries = session.scalar(select(func.count()).select_from(LedgerEntry))
    return {
        "chain_ok": bool(report["ok"]),
        "entries": entries,
        "verify_seconds": round(time.monotonic() - started, 1),
    }


def fake_calls(fake: BrazeFake) -> dict[str, Any]:
    calls = fake.requests
    by_path: dict[str, Counter[int]] = {}
    ids = []
    for call in calls:
        by_path.setdefault(call.path, Counter())[call.status] += 1
        if call.path == "/subscription/status/set" and isinstance(call.body, dict):
            ids.append(len(call.body.get("external_id") or []))
    return {
        "requests": {p: {str(s): n for s, n in sorted(c.items())} for p, c in by_path.items()},
        "status_set_ids_per_call_mean": round(sum(ids) / len(ids), 1) if ids else None,
    }


def etag_of(base: str) -> str:
    with urllib.request.urlopen(base + TAG_PATH, timeout=10) as response:
        etag = response.headers.get("ETag")
    if not etag:
        raise RuntimeError(f"{TAG_PATH} answered without an ETag")
    return str(etag)


# -- the run ------------------------------------------------------------------------------------


def soak(args: argparse.Namespace) -> dict[str, Any]:
    rates = {
        "save": args.rate,
        "bootstrap": args.bootstrap_rate,
        "tag": args.tag_rate / 2,
        "tag_revalidate": args.tag_rate / 2,
    }
    pattern = mix_pattern(rates)
    out: dict[str, Any] = {
        "db": args.db,
        "offered_per_s": {k: round(v, 1) for k, v in rates.items()},
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "server": {"workers": args.workers, "threads": args.threads, "server": "granian"},
    }
    with BrazeFake() as fake, stack(args.db, redis_db=args.redis_db) as current:
        try:
            _soak(args, out, fake, current, rates, pattern)
        except Exception as exc:
            raise RuntimeError(f"{exc}{_log_tails(current)}") from exc
    saves = out["requests"]["save"]
    met = (
        saves["throughput_per_s"] >= TARGET_SAVES_PER_S
        and saves["p95_ms"] is not None
        and saves["p95_ms"] <= TARGET_P95_MS
        and (saves["error_rate"] or 0) < TARGET_ERROR_RATE
    )
    prop = out["propagation"]
    out["verdict"] = {
        "target": (
            f"≥ {TARGET_SAVES_PER_S:g} saves/s, p95 ≤ {TARGET_P95_MS:g} ms, "
            f"errors < {TARGET_ERROR_RATE:.1%}"
        ),
        "target_met": met,
        "memory": out["memory"]["verdict"],
        "outbox_drained": prop["drained"] and prop["dead"] == 0,
        "every_save_reached_fake": prop["never_reached_fake"] == 0 and prop["wrong_state"] == 0,
        "ledger_chain_ok": out["ledger"]["chain_ok"],
    }
    return out


def probe(args: argparse.Namespace, port: int, host: str, pattern: list[str], etag: str,
          ttl: int) -> dict[str, Any]:  # fmt: skip
    """Closed loop, the same mix as fast as the server answers: its ceiling on this machine
    now (other visitors and source addresses, so every save still writes)."""
    load = Load("127.0.0.1", port, rate=0, seconds=args.probe_seconds, warmup=2.0,
                processes=args.processes, connections=args.connections // 2,
                source_base=60)  # fmt: skip
    tokens = mint_tokens(args.visitors, ttl=ttl, prefix="probe")
    result = run_mix(load, mix_factory(tokens, host, pattern, etag), pattern, args.probe_seconds)
    out: dict[str, Any] = {
        "connections": args.processes * (args.connections // 2),
        "choices_written": result["saved_all"],
    }
    for kind in KINDS:
        summary = kind_summary(result["by_kind"][kind], args.probe_seconds, args.probe_seconds)
        out[kind] = {k: summary[k] for k in ("throughput_per_s", "p50_ms", "p95_ms", "error_rate")}
    return out


def _log_tails(current: Stack) -> str:
    out = ""
    for name in ("serve.log", "worker.log"):
        path = current.workdir / name
        if path.exists():
            out += f"\n--- {name} ---\n" + path.read_text(errors="replace")[-1500:]
    return out


def _soak(args: argparse.Namespace, out: dict[str, Any], fake: BrazeFake, current: Stack,
          rates: dict[str, float], pattern: list[str]) -> None:  # fmt: skip
    fake.add_key(BRAZE_KEY)
    for (_, channel), group in GROUPS.items():
        fake.add_subscription_group(group, channel)
    current.apply(document(fake.url))  # default connection settings
    base = current.serve(workers=args.workers, threads=args.threads)
    web_pid = current.processes[-1].pid
    worker_pid = current.worker().pid
    host = base.removeprefix("http://")
    port = int(host.rsplit(":", 1)[1])
    ttl = int(args.seconds + args.warmup + args.probe_seconds) + 900
    tokens = mint_tokens(args.visitors, ttl=ttl)
    etag = etag_of(base)
    make = mix_factory(tokens, host, pattern, etag)
    if args.probe_seconds > 0:
        out["closed_loop"] = probe(args, port, host, pattern, etag, ttl)
    load = Load("127.0.0.1", port, rate=sum(rates.values()), seconds=args.seconds,
                warmup=args.warmup, processes=args.processes,
                connections=args.connections)  # fmt: skip
    processes = Processes(web_pid, worker_pid)
    sampler = MemorySampler(processes, args.sample_every)
    launched = time.monotonic()
    window_start = launched + 0.2 + args.warmup
    sampler.snapshot("before")
    sampler.marks[window_start] = "start"
    sampler.start()
    cpu_first: dict[str, int] = {}

    def first_cpu() -> None:
        pause = window_start - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        cpu_first.update(processes.ticks())

    cpu_thread = threading.Thread(target=first_cpu, daemon=True)
    cpu_thread.start()
    try:
        result = run_mix(load, make, pattern, args.sample_every)
    finally:
        cpu_last = processes.ticks()
        window = time.monotonic() - window_start
        sampler.stop()
        cpu_thread.join(timeout=5)
    sampler.snapshot("end")
    out["wall_load_seconds"] = round(time.monotonic() - launched, 1)
    out["requests"] = {
        kind: kind_summary(
            result["by_kind"][kind], args.seconds, args.sample_every, result["seconds"]
        )
        for kind in KINDS
    }
    # Its CPU covers the warm-up too: per request at the same rate.
    per_request = result["cpu_seconds"] / max(1, result["requests"])
    out["generator_cpu_us_per_request"] = round(
        per_request * 1e6 * args.seconds / (args.seconds + args.warmup), 1
    )
    if cpu_first:
        out["cpu_cores"] = {
            k: round((cpu_last[k] - cpu_first[k]) / TICK / window, 2) for k in cpu_last
        }
        out["cpu_cores"]["machine_cores"] = os.cpu_count()
    deps = _deps(current)
    try:
        out["propagation"] = drain(deps, args.drain_timeout)
        sampler.snapshot("drained")
        out["memory"] = memory_report(sampler.samples, args.tolerance_mb)
        out["propagation"].update(final_states(deps, fake))
        out["propagation"].update(fake_calls(fake))
        out["ledger"] = ledger(deps)
        # Every choice a save answered as written (closed-loop probe included); a save whose
        # answer never came may still have committed, so the ledger can only hold more.
        written = result["saved_all"] + out.get("closed_loop", {}).get("choices_written", 0)
        out["ledger"]["choices_written_by_saves"] = written
    finally:
        _dispose(deps)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.preference_soak")
    parser.add_argument("--seconds", type=float, default=300.0, help="measured load, after warm-up")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=TARGET_SAVES_PER_S, help="saves per second")
    parser.add_argument("--bootstrap-rate", type=float, default=None, help="default: rate / 10")
    parser.add_argument(
        "--tag-rate", type=float, default=None, help="tag fetches/s, half revalidations; rate / 10"
    )
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--workers", type=int, default=SERVE_WORKERS, help="web worker processes")
    parser.add_argument("--threads", type=int, default=SERVE_THREADS, help="threads per web worker")
    parser.add_argument("--visitors", type=int, default=6000)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--connections", type=int, default=32, help="per generator process")
    parser.add_argument("--sample-every", type=float, default=10.0, help="RSS sample, seconds")
    parser.add_argument("--tolerance-mb", type=float, default=20.0)
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--redis-db", type=int, default=SOAK_REDIS_DB)
    parser.add_argument(
        "--probe-seconds", type=float, default=0.0, help="closed-loop ceiling first (0: none)"
    )
    args = parser.parse_args(argv)
    if args.bootstrap_rate is None:
        args.bootstrap_rate = args.rate / 10
    if args.tag_rate is None:
        args.tag_rate = args.rate / 10
    if args.seconds + args.warmup + args.probe_seconds > MAX_LOAD_SECONDS:
        parser.error(f"the load (probe, warm-up, seconds) must stay within {MAX_LOAD_SECONDS:g} s")
    if args.seconds < 2 * args.sample_every or args.rate <= 0:
        parser.error("--seconds must cover two samples and --rate must be positive")
    return args


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the clean-ups (processes, db, temp dir)


def main(argv: list[str] | None = None) -> int:
    from bench.common import machine

    args = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    out: dict[str, Any] = {"bench": "preference_soak", "machine": machine()}
    started = time.monotonic()
    code = 0
    try:
        out.update(soak(args))
    except Exception as exc:  # noqa: BLE001 - a harness failure: reported, exit non-zero
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()[-4000:]
        code = 1
    out["wall_seconds"] = round(time.monotonic() - started, 1)
    out["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, ensure_ascii=False), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
