"""Sync schedules: N times a day, days of the week at a time, a day of the month at a time.

Times are wall-clock times in the schedule's timezone (IANA name, default UTC). Across a DST
change a wall-clock time that does not exist (spring forward) fires at the same offset past the
gap (02:30 → 03:30), and one that exists twice (fall back) fires once, at its first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend.domain.config_schema import Problems, Reader

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
AT_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
MAX_TIMES_PER_DAY = 96  # every 15 minutes
MAX_DAY_OF_MONTH = 28  # every month has it
DAY_SECONDS = 24 * 3600
FORMS = "{times_per_day: N}, {days: [mon, ...], at: 'HH:MM'} or {day_of_month: D, at: 'HH:MM'}"


@dataclass(frozen=True)
class TimesPerDay:
    times: int
    timezone: str = "UTC"


@dataclass(frozen=True)
class Weekly:
    days: tuple[str, ...]  # in WEEKDAYS order, without duplicates
    at: str  # HH:MM
    timezone: str = "UTC"


@dataclass(frozen=True)
class Monthly:
    day_of_month: int
    at: str
    timezone: str = "UTC"


Schedule = TimesPerDay | Weekly | Monthly


def timezone_problem(name: str) -> str | None:
    if name.startswith(("/", ".")) or ".." in name:
        return f"{name!r} is not an IANA timezone name such as Europe/Madrid"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"{name!r} is not an IANA timezone name such as Europe/Madrid"
    return None


def parse_schedule(value: Any, path: str, problems: Problems) -> Schedule | None:
    """One of the three forms, with an optional ``timezone``; problems are named by path."""
    reader = Reader.of(
        value, path, problems, ("times_per_day", "days", "at", "day_of_month", "timezone")
    )
    if reader is None:
        return None
    before = len(problems.errors)
    timezone = reader.text("timezone", required=False, max_length=64) or "UTC"
    if reader.has("timezone"):
        problem = timezone_problem(timezone)
        if problem:
            reader.problem("timezone", problem)
    forms = [k for k in ("times_per_day", "days", "day_of_month") if reader.has(k)]
    if len(forms) != 1:
        message = "give exactly one of times_per_day, days, day_of_month"
        problems.add(path, f"{message}: {FORMS}")
        return None
    form = forms[0]
    schedule: Schedule | None = None
    if form == "times_per_day":
        if reader.has("at"):
            reader.problem("at", "times_per_day runs evenly spaced from 00:00; it takes no 'at'")
        times = reader.integer("times_per_day", 0, minimum=1, maximum=MAX_TIMES_PER_DAY)
        schedule = TimesPerDay(times, timezone)
    elif form == "days":
        days = _days(reader)
        at = reader.text("at", max_length=5, pattern=AT_RE, hint="a time such as 06:30")
        if days and at:
            schedule = Weekly(days, at, timezone)
    else:
        day = reader.integer("day_of_month", 0, minimum=1, maximum=MAX_DAY_OF_MONTH)
        at = reader.text("at", max_length=5, pattern=AT_RE, hint="a time such as 02:00")
        if at:
            schedule = Monthly(day, at, timezone)
    if len(problems.errors) > before:
        return None
    return schedule


def _days(reader: Reader) -> tuple[str, ...]:
    entries = reader.items("days", required=True, max_items=7)
    if entries is not None and not entries:
        reader.problem("days", "list at least one day")
    chosen: set[str] = set()
    for item_path, value in entries or []:
        if not isinstance(value, str) or value not in WEEKDAYS:
            shown = repr(value) if isinstance(value, str) else "this value"
            reader.problems.add(item_path, f"{shown} is not one of: {', '.join(WEEKDAYS)}")
        elif value in chosen:
            reader.problems.add(item_path, f"duplicate day {value!r}")
        else:
            chosen.add(value)
    return tuple(d for d in WEEKDAYS if d in chosen)


def schedule_to_dict(schedule: Schedule) -> dict[str, Any]:
    """The mapping a file holds; ``timezone`` only when it is not UTC."""
    result: dict[str, Any]
    if isinstance(schedule, TimesPerDay):
        result = {"times_per_day": schedule.times}
    elif isinstance(schedule, Weekly):
        result = {"days": list(schedule.days), "at": schedule.at}
    else:
        result = {"day_of_month": schedule.day_of_month, "at": schedule.at}
    if schedule.timezone != "UTC":
        result["timezone"] = schedule.timezone
    return result


def schedule_from_dict(value: dict[str, Any]) -> Schedule:
    """A stored schedule (already validated) back to its value."""
    problems = Problems()
    schedule = parse_schedule(value, "schedule", problems)
    problems.raise_if_any()
    assert schedule is not None
    return schedule


def describe_schedule(schedule: Schedule) -> str:
    zone = "" if schedule.timezone == "UTC" else f" ({schedule.timezone})"
    if isinstance(schedule, TimesPerDay):
        return f"{schedule.times} times a day{zone}"
    if isinstance(schedule, Weekly):
        return f"{', '.join(schedule.days)} at {schedule.at}{zone}"
    return f"day {schedule.day_of_month} of each month at {schedule.at}{zone}"


def _wall_clock_times(schedule: Schedule, day: date) -> list[time]:
    """The local times the schedule fires on ``day`` (empty when it does not fire that day)."""
    if isinstance(schedule, TimesPerDay):
        result = []
        for k in range(schedule.times):
            seconds = k * DAY_SECONDS // schedule.times
            result.append(time(seconds // 3600, seconds % 3600 // 60, seconds % 60))
        return result
    hours, minutes = (int(part) for part in schedule.at.split(":"))
    if isinstance(schedule, Weekly):
        fires = WEEKDAYS[day.weekday()] in schedule.days
    else:
        fires = day.day == schedule.day_of_month
    return [time(hours, minutes)] if fires else []


def _to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    # fold=0: a time inside a spring-forward gap maps past the gap; an ambiguous one to its first.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def next_run_after(schedule: Schedule, after: datetime) -> datetime:
    """The first time the schedule fires strictly after ``after`` (an aware datetime), in UTC."""
    if after.tzinfo is None:
        raise ValueError("next_run_after needs an aware datetime")
    zone = ZoneInfo(schedule.timezone)
    start = after.astimezone(zone).date() - timedelta(days=1)
    # A monthly schedule fires at most ~31 days later; scan a little more than that.
    for offset in range(0, 40):
        day = start + timedelta(days=offset)
        candidates = [_to_utc(day, at, zone) for at in _wall_clock_times(schedule, day)]
        later = [c for c in candidates if c > after]
        if later:
            return min(later)
    raise AssertionError("unreachable: every schedule fires within 40 days")
