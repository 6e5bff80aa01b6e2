"""An HTTP/1.1 load generator for the preference benches: several processes, each driving many
keep-alive connections with ``selectors`` and pre-built requests, so it costs a few tens of
microseconds of CPU per request (its ceiling is measured against a trivial server and reported).

Open loop by default: requests are due at a fixed rate and their latency runs from the moment
they were due, so a slow server is not hidden by a waiting client (no coordinated omission).
Each connection comes from its own loopback address (127.x.y.z) and is replaced after a few
requests, so per-IP rate limits see many visitors, as they would in production; per-token limits
see many tokens because each request carries the next visitor's token.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import resource
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

RequestFactory = Callable[[int], bytes]  # request number (in this process) -> raw HTTP request
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
_SAVED = re.compile(rb'"saved":\s*(\d+)')


@dataclass(frozen=True)
class Load:
    host: str
    port: int
    rate: float  # requests per second over all processes; 0 = closed loop
    seconds: float  # measured part
    warmup: float = 3.0
    processes: int = 2
    connections: int = 24  # per process: the most requests in flight
    per_connection: int = 100  # requests before a connection is replaced by a new source address
    source_base: int = 10  # connections come from 127.(source_base + process).x.y


@dataclass
class Result:
    latencies: list[float]  # seconds, successful requests due in the measured window
    statuses: dict[int, int]
    errors: int  # connection errors and non-2xx in the measured window
    saved: int  # sum of "saved" in the answers (choices written)
    completed: int  # answers (any status) in the measured window
    cpu_seconds: float  # user + system time of the generator processes
    seconds: float

    @property
    def ok(self) -> int:
        return len(self.latencies)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        total = self.completed + self.errors_without_answer
        return {
            "requests": self.completed,
            "throughput_per_s": round(self.ok / self.seconds, 1),
            "p50_ms": _ms(percentile(lat, 0.50)),
            "p95_ms": _ms(percentile(lat, 0.95)),
            "p99_ms": _ms(percentile(lat, 0.99)),
            "max_ms": _ms(lat[-1] if lat else None),
            "error_rate": round(self.errors / total, 5) if total else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "choices_written": self.saved,
            "generator_cpu_us_per_request": (
                round(self.cpu_seconds / max(1, self.completed) * 1e6, 1)
            ),
        }

    @property
    def errors_without_answer(self) -> int:
        return max(0, self.errors - sum(v for k, v in self.statuses.items() if k >= 300))


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


class _Conn:
    __slots__ = ("body", "buffer", "due", "need", "sock", "used")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.due = 0.0
        self.need = -1  # bytes of the whole answer once its head is in
        self.body = 0  # where the body starts
        self.used = 0


class _Worker:
    """One process's loop."""

    def __init__(self, load: Load, index: int, factory: RequestFactory) -> None:
        self.load, self.index, self.factory = load, index, factory
        self.sel = selectors.DefaultSelector()
        self.idle: deque[_Conn] = deque()
        self.open = 0
        self.address = 0
        self.sent = 0
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.saved = 0
        self.completed = 0

    def _source(self) -> str:
        """127.(source_base + process).x.y, a new one for every connection."""
        self.address += 1
        n = self.address % 65000
        return f"127.{self.load.source_base + self.index}.{n // 254}.{n % 254 + 1}"

    def _connect(self) -> _Conn:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self._source(), 0))
        sock.connect((self.load.host, self.load.port))
        self.open += 1
        return _Conn(sock)

    def _close(self, conn: _Conn) -> None:
        try:
            self.sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        self.open -= 1

    def _send(self, conn: _Conn, due: float) -> None:
        conn.due, conn.buffer, conn.need = due, b"", -1
        conn.used += 1
        try:
            conn.sock.sendall(self.factory(self.sent))
        except OSError:
            self._fail(conn)
            return
        self.sent += 1
        self.sel.register(conn.sock, selectors.EVENT_READ, conn)

    def _fail(self, conn: _Conn) -> None:
        if self.window_start <= conn.due < self.window_end:
            self.errors += 1
        self._close(conn)

    def _read(self, conn: _Conn, now: float) -> None:
        """Read what arrived; once a whole answer is in, account for it and reuse the
        connection (or replace it)."""
        try:
            chunk = conn.sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self._fail(conn)
            return
        conn.buffer += chunk
        if conn.need < 0:
            end = conn.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            match = _LENGTH.search(conn.buffer, 0, end)
            conn.body = end + 4
            conn.need = conn.body + (int(match.group(1)) if match else 0)
        if len(conn.buffer) < conn.need:
            return
        self.sel.unregister(conn.sock)
        self._account(conn, int(conn.buffer[9:12]), now)
        if conn.used >= self.load.per_connection or b"connection: close" in conn.buffer.lower():
            self._close(conn)
        else:
            self.idle.append(conn)

    def _account(self, conn: _Conn, status: int, now: float) -> None:
        """Count one whole answer (``conn.buffer``) with this HTTP status."""
        if self.window_start <= conn.due < self.window_end:
            self.completed += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                self.latencies.append(now - conn.due)
                saved = _SAVED.search(conn.buffer, conn.body)
                if saved:
                    self.saved += int(saved.group(1))
            else:
                self.errors += 1

    def run(self) -> dict[str, Any]:
        load = self.load
        start = time.monotonic() + 0.2
        self.window_start = start + load.warmup
        self.window_end = self.window_start + load.seconds
        end = self.window_end
        interval = load.processes / load.rate if load.rate > 0 else 0.0
        # Stagger the processes so their requests interleave.
        next_due = start + (interval * self.index / load.processes if interval else 0.0)
        waiting: deque[float] = deque()
        while True:
            now = time.monotonic()
            if interval:
                while next_due <= now and next_due < end:
                    waiting.append(next_due)
                    next_due += interval
            elif now < end:
                # Closed loop: every connection always has a request out.
                free = len(self.idle) + load.connections - self.open - len(waiting)
                waiting.extend([now] * max(0, free))
            while waiting and (self.idle or self.open < load.connections):
                conn = self.idle.popleft() if self.idle else self._connect()
                self._send(conn, waiting.popleft())
            busy = self.open - len(self.idle)
            if now >= end and not waiting and busy == 0:
                break
            if now >= end + 10:  # stragglers: count as errors
                self.errors += busy
                break
            timeout = 0.05
            if interval and next_due < end:
                timeout = max(0.0, min(timeout, next_due - now))
            for key, _ in self.sel.select(timeout):
                self._read(key.data, time.monotonic())
        for conn in list(self.idle):
            self._close(conn)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "latencies": self.latencies,
            "statuses": self.statuses,
            "errors": self.errors,
            "saved": self.saved,
            "completed": self.completed,
            "cpu": usage.ru_utime + usage.ru_stime,
        }


def _child(load: Load, index: int, make: Callable[[int, int], RequestFactory], conn: Any) -> None:
    try:
        conn.send(_Worker(load, index, make(index, load.processes)).run())
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send({"error": repr(exc)})
    finally:
        conn.close()


def run_load(load: Load, make: Callable[[int, int], RequestFactory]) -> Result:
    """Run ``load`` from ``load.processes`` forked processes; ``make(index, processes)`` builds
    each process's request factory (after the fork)."""
    ctx = multiprocessing.get_context("fork")
    pipes, children = [], []
    for index in range(load.processes):
        parent, child = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_child, args=(load, index, make, child), daemon=True)
        process.start()
        child.close()
        pipes.append(parent)
        children.append(process)
    parts = []
    for pipe in pipes:
        parts.append(pipe.recv())
    for process in children:
        process.join(timeout=10)
    failed = [p["error"] for p in parts if "error" in p]
    if failed:
        raise RuntimeError(f"load generator failed: {failed[0]}")
    statuses: dict[int, int] = {}
    for part in parts:
        for status, count in part["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return Result(
        latencies=[v for p in parts for v in p["latencies"]],
        statuses=statuses,
        errors=sum(p["errors"] for p in parts),
        saved=sum(p["saved"] for p in parts),
        completed=sum(p["completed"] for p in parts),
        cpu_seconds=sum(p["cpu"] for p in parts),
        seconds=load.seconds,
    )


# -- a trivial server, to measure the generator's own ceiling ------------------------------------

_CANNED = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"saved":0}'
)


def _trivial_server(port_pipe: Any) -> None:
    """Answers every request with a canned 200 at once (asyncio, one process)."""
    import asyncio

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                match = _LENGTH.search(self.buffer, 0, end)
                need = end + 4 + (int(match.group(1)) if match else 0)
                if len(self.buffer) < need:
                    return
                self.buffer = self.buffer[need:]
                self.transport.write(_CANNED)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=1024)
        port_pipe.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def generator_ceiling(make: Callable[[int, int], RequestFactory], *, seconds: float = 4.0,
                      processes: int = 2, connections: int = 24) -> dict[str, Any]:  # fmt: skip
    """Closed-loop requests per second the generator reaches against a server that does
    nothing (which itself takes a share of the same CPUs: a lower bound of the ceiling)."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    server = ctx.Process(target=_trivial_server, args=(child,), daemon=True)
    server.start()
    try:
        port = parent.recv()
        load = Load("127.0.0.1", port, rate=0, seconds=seconds, warmup=0.5,
                    processes=processes, connections=connections)  # fmt: skip
        result = run_load(load, make)
    finally:
        os.kill(server.pid, 15)
        server.join(timeout=5)
    return {
        "requests_per_s": round(result.ok / seconds, 0),
        "cpu_us_per_request": round(result.cpu_seconds / max(1, result.completed) * 1e6, 1),
        "p50_ms": _ms(percentile(sorted(result.latencies), 0.5)),
    }
