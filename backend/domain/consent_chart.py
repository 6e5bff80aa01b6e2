"""Chart geometry for opt-ins and opt-outs per topic × channel over time (rendered as SVG)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

WIDTH = 320
HEIGHT = 120
PAD_LEFT = 28
PAD_BOTTOM = 18
PAD_TOP = 8


@dataclass(frozen=True)
class DailyCount:
    day: date
    subscription: str
    channel: str
    state: str  # subscribed | unsubscribed
    count: int


@dataclass(frozen=True)
class SeriesChart:
    """One small multiple: a topic on a channel, with an opt-in and an opt-out line."""

    subscription: str
    channel: str
    opt_in_points: str
    opt_out_points: str
    opt_ins: int
    opt_outs: int
    y_max: int
    first_day: date
    last_day: date


def days_back(today: date, count: int) -> list[date]:
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


def build_charts(counts: list[DailyCount], days: list[date]) -> list[SeriesChart]:
    """Group daily counts by topic × channel and turn each series into polyline points."""
    index = {day: i for i, day in enumerate(days)}
    series: dict[tuple[str, str], dict[str, list[int]]] = {}
    for row in counts:
        if row.day not in index:
            continue
        lines = series.setdefault(
            (row.subscription, row.channel),
            {"subscribed": [0] * len(days), "unsubscribed": [0] * len(days)},
        )
        if row.state in lines:
            lines[row.state][index[row.day]] += row.count
    charts = []
    for (subscription, channel), lines in sorted(series.items()):
        y_max = max(1, *lines["subscribed"], *lines["unsubscribed"])
        charts.append(
            SeriesChart(
                subscription=subscription,
                channel=channel,
                opt_in_points=_points(lines["subscribed"], y_max),
                opt_out_points=_points(lines["unsubscribed"], y_max),
                opt_ins=sum(lines["subscribed"]),
                opt_outs=sum(lines["unsubscribed"]),
                y_max=y_max,
                first_day=days[0],
                last_day=days[-1],
            )
        )
    return charts


def _points(values: list[int], y_max: int) -> str:
    usable_w = WIDTH - PAD_LEFT - 4
    usable_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = usable_w / max(1, len(values) - 1)
    return " ".join(
        f"{PAD_LEFT + i * step:.1f},{PAD_TOP + usable_h - (v / y_max) * usable_h:.1f}"
        for i, v in enumerate(values)
    )
