"""``python -m bench`` (``make bench``): the benchmarks, each in its own process with a time bound,
against PRODUCT §4's targets. Prints the figures and writes them into bench/RESULTS.md: the
profile-sync table between the ``<!-- figures -->`` markers, the preference-center table between
the ``<!-- preference figures -->`` markers (the prose around them stays). Running only the
preference benches leaves the sync table as it was, and the other way round; the preference
table holds the rows of the preference benches that ran.

Parts (``--only``, comma-separated; default all): ``sync`` (export, budget use and import over
``--profiles`` profiles; one table, so it runs whole), ``import`` (the import alone: rewrites only
the import rows of that table, which then name their own date and load), ``preference_api``,
``propagation``, ``preference_budget``, and ``preferences`` for the last three.

Options: ``--profiles N`` (default 1,000,000), ``--budget-seconds S`` (default 30),
``--pref-seconds S`` (measured seconds of each preference bench; default: each bench's own),
``--pref-db sqlite,postgresql`` (databases of the preference API bench), ``--no-write``
(print only).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, copy_database, fast_fake, machine, run_step
from bench.preference_report import END as PREF_END
from bench.preference_report import START as PREF_START
from bench.preference_report import render_preferences, run_preferences

from tests.fakes.s3_server import ACCESS_KEY, SECRET_KEY, start_s3_server, weed_binary

RESULTS = ROOT / "bench" / "RESULTS.md"
START, END = "<!-- figures -->", "<!-- /figures -->"
SYNC_PARTS = ("sync",)
IMPORT_PART = "import"  # part of ``sync``; alone, it rewrites only the import rows
PREFERENCE_PARTS = ("preference_api", "propagation", "preference_budget")
GROUPS = {"sync": SYNC_PARTS, "preferences": PREFERENCE_PARTS}


def seed(workdir: Path, n: int) -> Path:
    template = workdir / "template.db"
    code = (
        "from pathlib import Path; from bench.common import seed_template; "
        f"seed_template(Path({str(template)!r}), {n})"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=900)
    return template


def export_bench(workdir: Path, template: Path, n: int) -> dict[str, Any]:
    with fast_fake() as url:
        result = run_step(
            "bench.export_step",
            {"database_url": copy_database(template, workdir / "export.db"),
             "workdir": str(workdir), "fake_url": url, "runs": 2},
            timeout=900,
        )  # fmt: skip
    full, noop = result["runs"]
    return {
        "profiles": n,
        "updates_per_second": round(full["objects"] / full["seconds"]),
        "full_seconds": full["seconds"],
        "full_requests": full["requests"],
        "noop_seconds": noop["seconds"],
        "noop_requests": noop["requests"],
        "noop_unchanged": noop["counts"]["unchanged"],
        "peak_rss_mb": result["peak_rss_mb"],
    }


def budget_bench(workdir: Path, template: Path, seconds: float, share: float) -> dict[str, Any]:
    limit, window = 300, 3.0  # a workspace scaled down 10x from Braze's 3,000 / 3 s
    with fast_fake(limit=limit, window=window) as url:
        result = run_step(
            "bench.export_step",
            {"database_url": copy_database(template, workdir / f"budget-{share}.db"),
             "workdir": str(workdir), "fake_url": url, "runs": 1, "seconds": seconds,
             "budget_share": share},
            timeout=seconds + 300,
        )  # fmt: skip
    run = result["runs"][0]
    budget = share * limit / window
    used = run["ok"] / max(run["fake_seconds"], 1e-9)
    return {
        "share": share,
        "configured_requests_per_second": round(budget, 1),
        "achieved_requests_per_second": round(used, 1),
        "budget_used_percent": round(100 * used / budget, 1),
        "requests": run["requests"],
        "answered_429": run["throttled"],
        "percent_429": round(100 * run["throttled"] / max(run["requests"], 1), 2),
        "seconds": run["fake_seconds"],
    }


def import_bench(workdir: Path, template: Path, n: int) -> dict[str, Any]:
    kind = "seaweedfs" if weed_binary() else "moto"
    server = start_s3_server(kind)
    try:
        bucket = server.new_bucket("bench")
        prefix, object_prefix = "optline/", f"bench-{int(time.time())}"
        written = run_step(
            "bench.import_step",
            {"action": "write", "endpoint_url": server.endpoint_url, "bucket": bucket,
             "prefix": prefix, "object_prefix": object_prefix, "users": n},
            timeout=900,
        )  # fmt: skip
        with fast_fake(prefix=object_prefix) as url:
            result = run_step(
                "bench.import_step",
                {"action": "run", "database_url": copy_database(template, workdir / "import.db"),
                 "workdir": str(workdir), "fake_url": url, "endpoint_url": server.endpoint_url,
                 "bucket": bucket, "prefix": prefix, "access_key": ACCESS_KEY,
                 "secret_key": SECRET_KEY, "runs": 2},
                timeout=1200,
            )  # fmt: skip
    finally:
        server.stop()
    first, second = result["runs"]
    return {
        "s3_server": kind,
        "users": n,
        "files": written["files"],
        "rows_per_second": round(n / first["seconds"]),
        "first_seconds": first["seconds"],
        "first_counts": first["counts"],
        "unchanged_rows_per_second": round(n / second["seconds"]),
        "second_counts": second["counts"],
        "peak_rss_mb": result["peak_rss_mb"],
    }


def render(figures: dict[str, Any]) -> str:
    m, e, i = figures["machine"], figures["export"], figures["import"]
    lines = [
        START,
        f"Measured {figures['at']} on {m['cpus']} CPUs, {m['ram_gib']} GiB RAM, Python "
        f"{m['python']}, SQLite {m['sqlite']} (embedded default; `{m['platform']}`); load "
        f"average {m['load_average'][0]} at the start, {figures['load_after'][0]} at the end "
        "(a shared machine).",
        "",
        "| benchmark | target | measured | |",
        "|---|---|---|---|",
        f"| export throughput, one worker, unthrottled fake, {e['profiles']:,} changed profiles "
        f"| ≥ 15,000 updates/s | {e['updates_per_second']:,} updates/s ({e['full_requests']:,} "
        f"requests in {e['full_seconds']} s) | {_ok(e['updates_per_second'] >= 15000)} |",
    ]
    for b in figures["budget"]:
        lines.append(
            f"| budget use, throttled fake (300 req / 3 s), share {b['share']:.0%} | ≥ 90 % used, "
            f"< 0.5 % 429 | {b['budget_used_percent']} % of {b['configured_requests_per_second']}"
            f" req/s, {b['answered_429']} of {b['requests']:,} answered 429 "
            f"({b['percent_429']} %) over {b['seconds']} s "
            f"| {_ok(b['budget_used_percent'] >= 90 and b['percent_429'] < 0.5)} |"
        )
    lines += [
        f"| no-op export over {e['profiles']:,} unchanged profiles | ≤ 20 s, 0 requests "
        f"| {e['noop_seconds']} s, {e['noop_requests']} requests "
        f"| {_ok(e['noop_seconds'] <= 20 and e['noop_requests'] == 0)} |",
        import_row(i),
        f"| peak RSS, export of {e['profiles']:,} | ≤ 512 MB | {e['peak_rss_mb']} MB "
        f"| {_ok(e['peak_rss_mb'] <= 512)} |",
        import_rss_row(i),
        END,
    ]
    return "\n".join(lines)


IMPORT_ROW, IMPORT_RSS_ROW = "| import parse + merge,", "| peak RSS, import of"


def import_row(i: dict[str, Any], alone: str = "") -> str:
    return (
        f"{IMPORT_ROW} {i['users']:,} users in {i['files']} gzip files on "
        f"{i['s3_server']} | ≥ 20,000 profiles/s | {i['rows_per_second']:,} profiles/s "
        f"({i['first_seconds']} s; unchanged re-import {i['unchanged_rows_per_second']:,}/s"
        f"{alone}) | {_ok(i['rows_per_second'] >= 20000)} |"
    )


def import_rss_row(i: dict[str, Any]) -> str:
    return (
        f"{IMPORT_RSS_ROW} {i['users']:,} | ≤ 512 MB | {i['peak_rss_mb']} MB "
        f"| {_ok(i['peak_rss_mb'] <= 512)} |"
    )


def run_import_alone(args: argparse.Namespace) -> list[str]:
    """The import bench by itself; its two rows, which carry their own date and load."""
    workdir = Path(tempfile.mkdtemp(prefix="optline-bench-"))
    load_before = machine()["load_average"][0]
    try:
        template = seed(workdir, args.profiles)
        figures = import_bench(workdir, template, args.profiles)
        print("import", figures, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load_after = machine()["load_average"][0]
    at = datetime.now(UTC).strftime("%Y-%m-%d")
    alone = f"; run alone {at}, load average {load_before} → {load_after}"
    return [import_row(figures, alone), import_rss_row(figures)]


def write_rows(rows: list[str]) -> None:
    """Replace the table rows (between the sync markers) that start as ``rows`` do."""
    if not RESULTS.exists() or START not in RESULTS.read_text():
        print(f"bench/RESULTS.md has no {START} markers: not written", flush=True)
        return
    head, rest = RESULTS.read_text().split(START, 1)
    table, tail = rest.split(END, 1)
    lines = table.split("\n")
    for row in rows:
        start = next(s for s in (IMPORT_ROW, IMPORT_RSS_ROW) if row.startswith(s))
        lines = [row if line.startswith(start) else line for line in lines]
    RESULTS.write_text(head + START + "\n".join(lines) + END + tail)


def _ok(passed: bool) -> str:
    return "met" if passed else "**missed**"


def _parts(only: str | None) -> list[str]:
    if not only:
        return [*SYNC_PARTS, *PREFERENCE_PARTS]
    chosen: list[str] = []
    for name in (n.strip() for n in only.split(",") if n.strip()):
        if name not in GROUPS and name not in (*SYNC_PARTS, IMPORT_PART, *PREFERENCE_PARTS):
            known = ", ".join([*GROUPS, IMPORT_PART, *PREFERENCE_PARTS])
            raise SystemExit(f"--only: unknown part {name!r} (known: {known})")
        chosen += [p for p in GROUPS.get(name, (name,)) if p not in chosen]
    if "sync" in chosen and IMPORT_PART in chosen:  # sync runs the import too
        chosen.remove(IMPORT_PART)
    return chosen


def run_sync(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="optline-bench-"))
    figures: dict[str, Any] = {"machine": machine(), "at": datetime.now(UTC).strftime("%Y-%m-%d")}
    try:
        started = time.monotonic()
        template = seed(workdir, args.profiles)
        print(
            f"seeded {args.profiles:,} profiles in {time.monotonic() - started:.0f} s", flush=True
        )
        figures["export"] = export_bench(workdir, template, args.profiles)
        print("export", figures["export"], flush=True)
        figures["budget"] = [
            budget_bench(workdir, template, args.budget_seconds, share) for share in (0.8, 1.0)
        ]
        print("budget", figures["budget"], flush=True)
        figures["import"] = import_bench(workdir, template, args.profiles)
        print("import", figures["import"], flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures["load_after"] = machine()["load_average"]
    return figures


def write_between(start: str, end: str, table: str) -> None:
    """Replace what bench/RESULTS.md holds between ``start`` and ``end`` with ``table``."""
    if not RESULTS.exists():
        return
    text = RESULTS.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        RESULTS.write_text(head + table + rest.split(end, 1)[1])
    else:
        print(f"bench/RESULTS.md has no {start} markers: not written", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", help="parts to run, comma-separated: sync, import, preferences, "
                        + ", ".join(PREFERENCE_PARTS))  # fmt: skip
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--budget-seconds", type=float, default=30.0)
    parser.add_argument("--pref-seconds", type=float, default=None)
    parser.add_argument("--pref-db", default="sqlite,postgresql")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    parts = _parts(args.only)
    if "sync" in parts:
        table = render(run_sync(args))
        print(table, flush=True)
        if not args.no_write:
            write_between(START, END, table)
    if IMPORT_PART in parts:
        rows = run_import_alone(args)
        print("\n".join(rows), flush=True)
        if not args.no_write:
            write_rows(rows)
    chosen = [p for p in parts if p in PREFERENCE_PARTS]
    if chosen:
        figures = run_preferences(chosen, args.pref_seconds, args.pref_db)
        table = render_preferences(figures)
        print(table, flush=True)
        if not args.no_write:
            write_between(PREF_START, PREF_END, table)


if __name__ == "__main__":
    main()
