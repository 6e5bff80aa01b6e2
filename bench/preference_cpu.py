"""Where the CPU went during a bench run: Optline's processes, PostgreSQL, Redis, and everything
else on the machine (other users of a shared box show up there), from ``/proc`` (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    except (OSError, IndexError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return out


def _named(name: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as handle:
                    if handle.read().strip().startswith(name):
                        out.append(int(entry))
            except OSError:
                continue
    return out


def _busy_total() -> int:
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle


@dataclass
class CpuSample:
    app: int
    postgres: int
    redis: int
    busy: int


class CpuMeter:
    """Ticks used between ``start`` and ``stop`` by the server tree of ``server_pid``, by every
    ``postgres`` and ``redis-server`` process, and by the whole machine."""

    def __init__(self, server_pids: list[int]) -> None:
        self.server_pids = server_pids

    def sample(self) -> CpuSample:
        pids = set(self.server_pids)
        for pid in self.server_pids:
            pids.update(_children(pid))
        return CpuSample(
            app=sum(_ticks(p) for p in pids),
            postgres=sum(_ticks(p) for p in _named("postgres")),
            redis=sum(_ticks(p) for p in _named("redis-server")),
            busy=_busy_total(),
        )

    def start(self) -> None:
        self.first = self.sample()

    def stop(self, seconds: float, requests: int, generator_cpu_seconds: float) -> dict[str, float]:
        last = self.sample()
        gen_ticks = generator_cpu_seconds * TICK
        spent = {
            "optline": last.app - self.first.app,
            "postgres": last.postgres - self.first.postgres,
            "redis": last.redis - self.first.redis,
            "load_generator": gen_ticks,
        }
        busy = last.busy - self.first.busy
        spent["everything_else"] = max(0.0, busy - sum(spent.values()))
        out = {f"{k}_cores": round(v / TICK / seconds, 2) for k, v in spent.items()}
        if requests:
            out["optline_ms_per_request"] = round(spent["optline"] / TICK / requests * 1000, 2)
            out["postgres_ms_per_request"] = round(spent["postgres"] / TICK / requests * 1000, 2)
        return out
