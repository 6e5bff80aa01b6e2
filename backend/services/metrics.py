"""Operational figures for Prometheus: outbox depth, sync lag, ledger size, runs, Braze calls."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from backend.db.models import LedgerEntry, OutboxEntry, SyncRun
from backend.services.deps import Deps


@dataclass
class Sample:
    name: str
    help: str
    kind: str  # gauge | counter
    values: list[tuple[dict[str, str], float]] = field(default_factory=list)


def collect(deps: Deps) -> list[Sample]:
    now = deps.clock()
    outbox = Sample("optline_outbox_entries", "Outbox entries by status.", "gauge")
    lag = Sample(
        "optline_sync_lag_seconds", "Age of the oldest change still waiting for Braze.", "gauge"
    )
    ledger = Sample("optline_ledger_entries", "Consent ledger entries.", "gauge")
    runs = Sample("optline_sync_runs", "Profile sync runs by status.", "gauge")
    durations = Sample(
        "optline_sync_run_last_duration_seconds",
        "Duration of the last finished run of each goal.",
        "gauge",
    )
    with deps.session() as session:
        for status, count in session.execute(
            select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)
        ):
            outbox.values.append(({"status": status}, float(count)))
        oldest = session.scalar(
            select(func.min(OutboxEntry.created_at)).where(
                OutboxEntry.status.in_(("pending", "in_flight"))
            )
        )
        lag.values.append(({}, max(0.0, (now - oldest).total_seconds()) if oldest else 0.0))
        ledger.values.append(({}, float(session.scalar(select(func.count(LedgerEntry.id))) or 0)))
        for status, count in session.execute(
            select(SyncRun.status, func.count()).group_by(SyncRun.status)
        ):
            runs.values.append(({"status": status}, float(count)))
        latest = (
            select(SyncRun.goal_kind, SyncRun.goal_code, func.max(SyncRun.id).label("run_id"))
            .where(SyncRun.finished_at.is_not(None), SyncRun.started_at.is_not(None))
            .group_by(SyncRun.goal_kind, SyncRun.goal_code)
            .subquery()
        )
        for run in session.scalars(select(SyncRun).join(latest, SyncRun.id == latest.c.run_id)):
            assert run.finished_at is not None and run.started_at is not None
            seconds = (run.finished_at - run.started_at).total_seconds()
            durations.values.append(({"kind": run.goal_kind, "goal": run.goal_code}, seconds))
    samples = [outbox, lag, ledger, runs, durations]
    counters = deps.extras.get("metrics")
    if counters is not None:
        braze = Sample(
            "optline_braze_requests_total", "Braze API calls by path and status.", "counter"
        )
        throttled = Sample("optline_braze_429_total", "Braze calls answered 429.", "counter")
        total_429 = 0
        for (path, status), count in sorted(counters.braze_requests().items()):
            braze.values.append(({"path": path, "status": str(status)}, float(count)))
            if status == 429:
                total_429 += count
        throttled.values.append(({}, float(total_429)))
        samples += [braze, throttled]
    return samples


def render(samples: list[Sample]) -> str:
    """The Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []
    for sample in samples:
        lines.append(f"# HELP {sample.name} {sample.help}")
        lines.append(f"# TYPE {sample.name} {sample.kind}")
        for labels, value in sample.values:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            lines.append(
                f"{sample.name}{{{label_text}}} {value:g}"
                if label_text
                else f"{sample.name} {value:g}"
            )
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
