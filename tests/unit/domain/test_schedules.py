"""next_run_after for the three schedule forms, across DST changes and month ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backend.domain.config_schema import Problems
from backend.domain.schedules import (
    Monthly,
    TimesPerDay,
    Weekly,
    describe_schedule,
    next_run_after,
    parse_schedule,
    schedule_from_dict,
    schedule_to_dict,
)

NY = ZoneInfo("America/New_York")
MADRID = ZoneInfo("Europe/Madrid")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# -- times per day ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "after", "expected"),
    [
        (1, utc(2025, 3, 1, 0, 0), utc(2025, 3, 2, 0, 0)),  # strictly after
        (1, utc(2025, 2, 28, 23, 59, 59), utc(2025, 3, 1, 0, 0)),
        (4, utc(2025, 3, 1, 0, 0), utc(2025, 3, 1, 6, 0)),
        (4, utc(2025, 3, 1, 5, 59), utc(2025, 3, 1, 6, 0)),
        (4, utc(2025, 3, 1, 18, 0, 1), utc(2025, 3, 2, 0, 0)),
        (96, utc(2025, 3, 1, 10, 7), utc(2025, 3, 1, 10, 15)),
        (96, utc(2025, 3, 1, 23, 50), utc(2025, 3, 2, 0, 0)),
        (3, utc(2025, 3, 1, 8, 0), utc(2025, 3, 1, 16, 0)),
        # 24 h / 7 is not a whole number of minutes: slots fall on whole seconds.
        (7, utc(2025, 3, 1, 0, 0), utc(2025, 3, 1, 3, 25, 42)),
    ],
)
def test_times_per_day_in_utc(times: int, after: datetime, expected: datetime) -> None:
    assert next_run_after(TimesPerDay(times), after) == expected


def test_times_per_day_follows_the_local_midnight() -> None:
    schedule = TimesPerDay(2, "Europe/Madrid")  # 00:00 and 12:00 in Madrid (UTC+1 in winter)
    assert next_run_after(schedule, utc(2025, 1, 10, 10, 0)) == utc(2025, 1, 10, 11, 0)
    assert next_run_after(schedule, utc(2025, 1, 10, 11, 0)) == utc(2025, 1, 10, 23, 0)


def test_every_slot_of_a_day_fires_once_in_order() -> None:
    schedule = TimesPerDay(24)
    at = utc(2025, 6, 1, 0, 0)
    fired = []
    while at < utc(2025, 6, 2, 0, 0):
        at = next_run_after(schedule, at)
        fired.append(at)
    assert fired == [utc(2025, 6, 1, h) for h in range(1, 24)] + [utc(2025, 6, 2, 0)]


def test_spring_forward_gap_fires_after_the_gap() -> None:
    # New York, 2025-03-09: 02:00 EST jumps to 03:00 EDT; a 02:30 slot does not exist.
    schedule = Weekly(("sun",), "02:30", "America/New_York")
    fired = next_run_after(schedule, utc(2025, 3, 8, 12, 0))
    assert fired == datetime(2025, 3, 9, 3, 30, tzinfo=NY).astimezone(UTC)
    assert fired == utc(2025, 3, 9, 7, 30)


def test_spring_forward_day_keeps_its_other_slots() -> None:
    schedule = TimesPerDay(24, "America/New_York")
    start = datetime(2025, 3, 9, 0, 30, tzinfo=NY)
    fired = []
    at = start.astimezone(UTC)
    for _ in range(4):
        at = next_run_after(schedule, at)
        fired.append(at.astimezone(NY).strftime("%H:%M %Z"))
    # 02:00 does not exist: it fires at 03:00 EDT, together with the 03:00 slot (once).
    assert fired == ["01:00 EST", "03:00 EDT", "04:00 EDT", "05:00 EDT"]


def test_fall_back_ambiguous_time_fires_once_at_its_first_occurrence() -> None:
    # New York, 2025-11-02: 01:00-02:00 happens twice (EDT, then EST).
    schedule = Weekly(("sun",), "01:30", "America/New_York")
    first = next_run_after(schedule, utc(2025, 11, 1, 12, 0))
    assert first == utc(2025, 11, 2, 5, 30)  # 01:30 EDT
    again = next_run_after(schedule, first)
    assert again == utc(2025, 11, 9, 6, 30)  # next Sunday, 01:30 EST; not the second 01:30


def test_fall_back_day_times_per_day_are_wall_clock() -> None:
    schedule = TimesPerDay(4, "Europe/Madrid")  # 00:00, 06:00, 12:00, 18:00 local
    after = datetime(2025, 10, 26, 0, 0, tzinfo=MADRID).astimezone(UTC)
    fired = next_run_after(schedule, after)
    # Clocks went back at 03:00; 06:00 local is now UTC+1.
    assert fired == utc(2025, 10, 26, 5, 0)


# -- days of the week ---------------------------------------------------------------------------


def test_weekly_picks_the_next_listed_day() -> None:
    schedule = Weekly(("mon", "thu"), "06:30")
    # 2025-03-05 is a Wednesday.
    assert next_run_after(schedule, utc(2025, 3, 5, 12, 0)) == utc(2025, 3, 6, 6, 30)
    assert next_run_after(schedule, utc(2025, 3, 6, 6, 30)) == utc(2025, 3, 10, 6, 30)
    assert next_run_after(schedule, utc(2025, 3, 6, 6, 29)) == utc(2025, 3, 6, 6, 30)


def test_weekly_in_a_timezone_ahead_of_utc_crosses_the_date_line() -> None:
    schedule = Weekly(("mon",), "01:00", "Pacific/Auckland")  # UTC+13 in March
    fired = next_run_after(schedule, utc(2025, 3, 1, 0, 0))
    assert fired.astimezone(ZoneInfo("Pacific/Auckland")).strftime("%a %H:%M") == "Mon 01:00"
    assert fired == utc(2025, 3, 2, 12, 0)  # Sunday in UTC


# -- day of the month ---------------------------------------------------------------------------


def test_monthly_same_month_and_next() -> None:
    schedule = Monthly(15, "02:00")
    assert next_run_after(schedule, utc(2025, 1, 10)) == utc(2025, 1, 15, 2, 0)
    assert next_run_after(schedule, utc(2025, 1, 15, 2, 0)) == utc(2025, 2, 15, 2, 0)


def test_monthly_across_month_ends_and_years() -> None:
    schedule = Monthly(28, "23:59")
    assert next_run_after(schedule, utc(2025, 1, 29)) == utc(2025, 2, 28, 23, 59)
    assert next_run_after(schedule, utc(2025, 2, 28, 23, 59)) == utc(2025, 3, 28, 23, 59)
    assert next_run_after(schedule, utc(2024, 12, 29)) == utc(2025, 1, 28, 23, 59)
    leap = Monthly(1, "00:00")
    assert next_run_after(leap, utc(2024, 2, 29, 12)) == utc(2024, 3, 1)
    assert next_run_after(leap, utc(2025, 12, 31, 23, 59)) == utc(2026, 1, 1)


def test_monthly_after_a_31_day_month() -> None:
    schedule = Monthly(1, "02:00")
    assert next_run_after(schedule, utc(2025, 1, 1, 2, 0)) == utc(2025, 2, 1, 2, 0)
    assert next_run_after(schedule, utc(2025, 7, 1, 2, 0)) == utc(2025, 8, 1, 2, 0)


def test_monthly_in_a_zone_where_the_first_is_still_yesterday_in_utc() -> None:
    schedule = Monthly(1, "00:30", "Europe/Madrid")
    assert next_run_after(schedule, utc(2025, 5, 20)) == utc(2025, 5, 31, 22, 30)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_run_after(TimesPerDay(1), datetime(2025, 1, 1))


def test_result_is_always_after_and_within_a_period() -> None:
    schedules = [
        TimesPerDay(5, "America/New_York"),
        Weekly(("fri",), "17:45", "Asia/Kolkata"),
        Monthly(3, "04:00", "Australia/Sydney"),
    ]
    at = utc(2024, 1, 1)
    for _ in range(400):
        at += timedelta(hours=7, minutes=13)
        for schedule in schedules:
            fired = next_run_after(schedule, at)
            assert at < fired <= at + timedelta(days=32)


# -- parsing ------------------------------------------------------------------------------------


def parse(raw: object) -> tuple[object, list[str]]:
    problems = Problems()
    schedule = parse_schedule(raw, "schedule", problems)
    return schedule, [str(e) for e in problems.errors]


def test_parse_each_form_and_round_trip() -> None:
    for raw in (
        {"times_per_day": 4},
        {"days": ["mon", "thu"], "at": "06:30"},
        {"day_of_month": 1, "at": "02:00", "timezone": "Europe/Madrid"},
    ):
        schedule, errors = parse(raw)
        assert errors == []
        assert schedule is not None
        assert schedule_to_dict(schedule) == raw  # type: ignore[arg-type]
        assert schedule_from_dict(raw) == schedule
        assert describe_schedule(schedule)  # type: ignore[arg-type]


def test_days_are_stored_in_week_order_without_duplicates() -> None:
    schedule, errors = parse({"days": ["thu", "mon"], "at": "06:30"})
    assert errors == []
    assert schedule == Weekly(("mon", "thu"), "06:30")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"times_per_day": 0}, "schedule.times_per_day: must be between 1 and 96, got 0"),
        ({"times_per_day": 97}, "schedule.times_per_day: must be between 1 and 96, got 97"),
        ({"times_per_day": 4, "at": "01:00"}, "schedule.at: times_per_day runs evenly"),
        ({"days": ["mon", "funday"], "at": "06:30"}, "schedule.days[1]: 'funday' is not one of"),
        ({"days": ["mon", "mon"], "at": "06:30"}, "schedule.days[1]: duplicate day 'mon'"),
        ({"days": [], "at": "06:30"}, "schedule.days: list at least one day"),
        ({"days": ["mon"], "at": "24:00"}, "schedule.at: '24:00' is not valid"),
        ({"days": ["mon"]}, "schedule.at: required"),
        ({"day_of_month": 29, "at": "02:00"}, "schedule.day_of_month: must be between 1 and 28"),
        ({"day_of_month": 1, "at": "2:00"}, "schedule.at: '2:00' is not valid"),
        ({"times_per_day": 2, "timezone": "Mars/Olympus"}, "schedule.timezone: 'Mars/Olympus'"),
        ({"times_per_day": 2, "days": ["mon"]}, "schedule: give exactly one of"),
        ({}, "schedule: give exactly one of"),
        ({"every": "hour"}, "schedule.every: unknown key"),
        ("daily", "schedule: expected a mapping, got a string"),
    ],
)
def test_invalid_schedules_name_the_path(raw: object, expected: str) -> None:
    schedule, errors = parse(raw)
    assert schedule is None
    assert any(e.startswith(expected) for e in errors), errors
