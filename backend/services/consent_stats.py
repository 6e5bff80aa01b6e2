"""Figures for the admin dashboard: consent changes per day, outbox depth and sync lag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from backend.db.models import LedgerEntry, OutboxEntry
from backend.domain.consent_chart import DailyCount, SeriesChart, build_charts, days_back
from backend.services.deps import Deps

CHART_DAYS = 30


@dataclass(frozen=True)
class OutboxHealth:
    depth: dict[str, int]
    lag_seconds: float


def consent_charts(deps: Deps, days: int = CHART_DAYS) -> list[SeriesChart]:
    today = deps.clock().date()
    window = days_back(today, days)
    since = datetime.combine(window[0], datetime.min.time(), tzinfo=deps.clock().tzinfo)
    day = func.date(LedgerEntry.at)
    query = (
        select(day, LedgerEntry.subscription, LedgerEntry.channel, LedgerEntry.state, func.count())
        .where(LedgerEntry.at >= since)
        .group_by(day, LedgerEntry.subscription, LedgerEntry.channel, LedgerEntry.state)
    )
    with deps.session() as session:
        rows = [
            DailyCount(_as_date(d), subscription, channel, state, int(n))
            for d, subscription, channel, state, n in session.execute(query)
        ]
    return build_charts(rows, window)


def outbox_health(deps: Deps) -> OutboxHealth:
    with deps.session() as session:
        depth = {
            status: int(n)
            for status, n in session.execute(
                select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)
            )
        }
        oldest = session.scalar(
            select(func.min(OutboxEntry.created_at)).where(
                OutboxEntry.status.in_(("pending", "in_flight"))
            )
        )
    lag = (deps.clock() - oldest).total_seconds() if oldest is not None else 0.0
    return OutboxHealth(depth=depth, lag_seconds=max(0.0, lag))


def _as_date(value: object) -> date:
    # SQLite returns 'YYYY-MM-DD' text, PostgreSQL a date.
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
