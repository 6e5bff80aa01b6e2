"""Summarise the fault trials ``make faults`` logged (instance/faults.jsonl): per kind of fault,
trials, lost, re-sent and dead-lettered changes, and the 1 vs 3 worker figures."""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

LOG = Path(os.environ.get("OPTLINE_FAULTS_LOG", "instance/faults.jsonl"))


def summarise(rows: list[dict[str, Any]]) -> list[str]:
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_kind[row["kind"]].append(row)
    lines = [f"{'kind':<24}{'trials':>7}{'lost':>6}{'resent':>8}{'dead':>6}{'inflated':>10}"]
    for kind, group in sorted(by_kind.items()):
        if kind.startswith("scale_"):
            continue
        total = {k: sum(int(r.get(k) or 0) for r in group) for k in ("lost", "resent", "dead")}
        inflated = sum(int(r.get("inflated") or 0) for r in group)
        lines.append(
            f"{kind:<24}{len(group):>7}{total['lost']:>6}{total['resent']:>8}"
            f"{total['dead']:>6}{inflated:>10}"
        )
    for kind in ("scale_propagation", "scale_export"):
        for row in sorted(by_kind.get(kind, []), key=lambda r: (r.get("latency", 0), r["workers"])):
            lines.append(
                f"{kind} workers={row['workers']} latency={row.get('latency', '?')} s: "
                f"{row['per_second']:.0f}/s "
                f"({row.get('rows') or row.get('profiles')} in {row['seconds']:.1f} s), "
                f"clashes={row.get('clashes', 0)} sent_twice={row.get('sent_twice', 0)}"
            )
    return lines


def main() -> int:
    if not LOG.exists():
        print(f"no fault log at {LOG}: run make faults")
        return 1
    rows = [json.loads(line) for line in LOG.read_text().splitlines() if line.strip()]
    print("\n".join(summarise(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
