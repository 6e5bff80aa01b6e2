"""The preference-center part of ``python -m bench``: runs ``bench.preference_api``,
``bench.preference_propagation`` and ``bench.preference_budget``, each in its own process with a
time bound, and renders their figures for bench/RESULTS.md (between the
``<!-- preference figures -->`` markers)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import ROOT, machine

START, END = "<!-- preference figures -->", "<!-- /preference figures -->"
SETUP_SECONDS = 240  # per stack: migrations, ``optline apply``, processes, verification


def run_module(module: str, args: list[str], timeout: float) -> dict[str, Any]:
    """``python -m module args`` in a fresh process; the JSON of its last line of output."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{done.stderr[-3000:]}")
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    result["step_seconds"] = round(time.monotonic() - started, 1)
    return result


def postgres_version() -> str | None:
    """The server version of the PostgreSQL the API bench uses (None when unreachable)."""
    from bench.preference_setup import POSTGRES_ADMIN_URL

    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL.rstrip("/") + "/postgres", connect_timeout=5) as c:
            row = c.execute("SHOW server_version").fetchone()
    except Exception:  # noqa: BLE001 - only a label for the results
        return None
    return str(row[0]).split()[0] if row else None


def run_preferences(parts: list[str], seconds: float | None, dbs: str) -> dict[str, Any]:
    """The selected preference benches; ``seconds`` None keeps each bench's default length."""
    figures: dict[str, Any] = {
        "machine": machine(),
        "at": datetime.now(UTC).strftime("%Y-%m-%d"),
        "postgresql": postgres_version() if "postgresql" in dbs else None,
    }
    if "preference_api" in parts:
        length = seconds if seconds is not None else 30.0
        runs = len(dbs.split(","))
        figures["api"] = run_module(
            "bench.preference_api",
            ["--seconds", str(length), "--db", dbs],
            timeout=runs * (2 * (length + 10) + 20 + SETUP_SECONDS) + 60,
        )
        print("preference_api", json.dumps(figures["api"]), flush=True)
    if "propagation" in parts:
        length = seconds if seconds is not None else 30.0
        figures["propagation"] = run_module(
            "bench.preference_propagation",
            ["--seconds", str(length)],
            timeout=length + 60 + SETUP_SECONDS,  # 60 s: the drain timeout
        )
        print("propagation", json.dumps(figures["propagation"]), flush=True)
    if "preference_budget" in parts:
        length = seconds if seconds is not None else 60.0
        figures["budget"] = run_module(
            "bench.preference_budget",
            ["--seconds", str(length)],
            timeout=length + 60 + SETUP_SECONDS,
        )
        print("preference_budget", json.dumps(figures["budget"]), flush=True)
    figures["load_after"] = machine()["load_average"]
    return figures


def _ok(passed: bool) -> str:
    return "met" if passed else "**missed**"


def _api_rows(api: dict[str, Any]) -> list[str]:
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    rows = []
    for kind, name in names.items():
        run = api.get(kind)
        if run is None:
            continue
        p95 = run["p95_ms"]
        errors = run["error_rate"] or 0.0
        passed = run["throughput_per_s"] >= 500 and p95 is not None and p95 <= 100 and not errors
        cpu = run["cpu"]
        rows.append(
            f"| preference API, {name}, open loop at {run['offered_per_s']:g} saves/s offered "
            f"| ≥ 500 saves/s, p95 ≤ 100 ms | {run['throughput_per_s']:g} saves/s answered "
            f"(p50 {run['p50_ms']} ms, p95 {p95} ms, p99 {run['p99_ms']} ms; "
            f"{100 * errors:.1f} % errors or unanswered) | {_ok(passed)} |"
        )
        above = run.get("headroom")
        if above:
            rows.append(
                f"| preference API, {name}, open loop at {above['offered_per_s']:g} saves/s "
                f"offered (room above the target) | – | {above['throughput_per_s']:g} saves/s "
                f"answered (p50 {above['p50_ms']} ms, p95 {above['p95_ms']} ms, p99 "
                f"{above['p99_ms']} ms; {100 * (above['error_rate'] or 0.0):.1f} % errors or "
                f"unanswered) | |"
            )
        closed = run.get("closed_loop")
        if closed:
            rows.append(
                f"| preference API, {name}, ceiling (closed loop, {closed['connections']} "
                f"connections) | – | {closed['throughput_per_s']:g} saves/s (p50 "
                f"{closed['p50_ms']} ms, p95 {closed['p95_ms']} ms) | |"
            )
        other = cpu.get("everything_else_cores", 0)
        rows.append(
            f"| {name}: where the CPU went | – | Optline {cpu['optline_cores']} cores "
            f"({cpu.get('optline_ms_per_request', '–')} ms a request), PostgreSQL "
            f"{cpu['postgres_cores']}, Redis {cpu['redis_cores']}, load generator "
            f"{cpu['load_generator_cores']}, other users of the machine {other} | |"
        )
        rows.append(
            f"| {name}: ledger after the run | chain verifies | "
            f"{'verifies' if run['ledger_ok'] else 'BROKEN'}; {run['rows']['ledger_entries']:,} "
            f"entries, {run['rows']['outbox_entries']:,} outbox rows | {_ok(run['ledger_ok'])} |"
        )
    return rows


def _propagation_rows(prop: dict[str, Any]) -> list[str]:
    rows = []
    for kind in ("sqlite", "postgresql"):
        run = prop.get(kind)
        if run is None:
            continue
        p95 = run["p95_s"]
        lost = run["lost"] + run["save_failures"]
        passed = p95 is not None and p95 <= 5 and lost == 0 and not run["wrong_final_state"]
        rows.append(
            f"| propagation, save → Braze request, {run['saves']:,} saves at "
            f"{run['rate_per_s']:g}/s, default settings ({kind}) | p95 ≤ 5 s, 0 lost "
            f"| p50 {run['p50_s']} s, p95 {p95} s, p99 {run['p99_s']} s, max {run['max_s']} s; "
            f"{run['lost']} lost, {run['save_failures']} failed saves, "
            f"{run['wrong_final_state']} in a wrong final state; {run['status_set_calls']:,} "
            f"calls, {run['ids_per_call_mean']} ids a call | {_ok(passed)} |"
        )
    return rows


def _budget_rows(budget: dict[str, Any]) -> list[str]:
    rows = []
    for run in budget["runs"]:
        used, share_429 = 100 * run["budget_used"], 100 * run["share_429"]
        rows.append(
            f"| Braze budget, propagation backlog, fake limit {run['limit']}, share "
            f"{run['budget_share']:.0%}, {run['seconds']:g} s | ≥ 90 % used, < 0.5 % 429 "
            f"| {used:.1f} % of {run['allowed_per_s']} req/s ({run['accepted_per_s']} accepted "
            f"a second), {run['answered_429']} of {run['requests']:,} answered 429 "
            f"({share_429:.2f} %) | {_ok(used >= 90 and share_429 < 0.5)} |"
        )
    return rows


def render_preferences(figures: dict[str, Any]) -> str:
    m = figures["machine"]
    pg = f", PostgreSQL {figures['postgresql']}" if figures.get("postgresql") else ""
    lines = [
        START,
        f"Measured {figures['at']} on {m['cpus']} CPUs, {m['ram_gib']} GiB RAM, Python "
        f"{m['python']}, SQLite {m['sqlite']}{pg}, Redis on loopback (`{m['platform']}`); load "
        f"average {m['load_average'][0]} at the start, {figures['load_after'][0]} at the end "
        "(a shared machine).",
        "",
        "| benchmark | target | measured | |",
        "|---|---|---|---|",
    ]
    if "api" in figures:
        lines += _api_rows(figures["api"])
    if "propagation" in figures:
        lines += _propagation_rows(figures["propagation"])
    if "budget" in figures:
        lines += _budget_rows(figures["budget"])
    lines.append(END)
    return "\n".join(lines)
