"""Reconciliation rules: the most recent explicit action wins; the same data twice is a no-op."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from backend.domain import reconcile as rules
from backend.domain.preferences import Change

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EMAIL_KEYS = [("news", "email"), ("offers", "email")]


def row(state: str, at: datetime, sync: str = "synced") -> rules.LocalRow:
    return rules.LocalRow(state, at, sync)


def test_an_unsubscribe_turns_older_email_choices_off_and_records_the_global_state() -> None:
    rows = {
        ("news", "email"): row("subscribed", T - timedelta(hours=1)),
        ("offers", "email"): row("unsubscribed", T - timedelta(hours=2)),
        ("news", "sms"): row("subscribed", T - timedelta(hours=1)),
    }
    decision = rules.plan_email_unsubscribe(rows, EMAIL_KEYS, T, None)
    assert decision.changes == [Change("news", "email", "unsubscribed")]
    assert decision.set_global and decision.outcome == "changed"


def test_a_newer_optline_choice_wins_and_keeps_the_global_state() -> None:
    rows = {
        ("news", "email"): row("subscribed", T + timedelta(seconds=1)),
        ("offers", "email"): row("subscribed", T - timedelta(days=1)),
    }
    decision = rules.plan_email_unsubscribe(rows, EMAIL_KEYS, T, None)
    assert decision.changes == [Change("offers", "email", "unsubscribed")]
    assert not decision.set_global
    only_newer = {("news", "email"): row("subscribed", T + timedelta(seconds=1))}
    skipped = rules.plan_email_unsubscribe(only_newer, EMAIL_KEYS, T, None)
    assert skipped.changes == [] and skipped.outcome == "skipped"


def test_applying_the_same_unsubscribe_again_changes_nothing() -> None:
    after = {("news", "email"): row("unsubscribed", T + timedelta(minutes=5), "pending")}
    again = rules.plan_email_unsubscribe(after, EMAIL_KEYS, T, "unsubscribed")
    assert again.changes == [] and not again.set_global and again.outcome == "unchanged"
    nobody = rules.plan_email_unsubscribe({}, EMAIL_KEYS, T, "unsubscribed")
    assert nobody.outcome == "unchanged"


def test_group_states_are_news_only_when_optline_is_synced() -> None:
    rows = {
        ("news", "email"): row("subscribed", T),
        ("news", "sms"): row("subscribed", T, "pending"),
        ("offers", "email"): row("unsubscribed", T, "failed"),
    }
    braze = {
        ("news", "email"): "unsubscribed",
        ("news", "sms"): "unsubscribed",
        ("offers", "email"): "subscribed",
        ("offers", "push"): "subscribed",
        ("other", "push"): "unsubscribed",
        ("x", "y"): "unknown",
    }
    changes, tally = rules.plan_group_states(rows, braze)
    assert changes == [
        Change("news", "email", "unsubscribed"),
        Change("offers", "push", "subscribed"),
    ]
    assert tally == {"changed": 2, "unchanged": 1, "skipped": 2}
    applied = {
        **rows,
        ("news", "email"): row("unsubscribed", T),
        ("offers", "push"): row("subscribed", T),
    }
    assert rules.plan_group_states(applied, braze)[0] == []


def test_the_window_starts_where_the_last_success_left_off() -> None:
    first = rules.unsubscribe_window(T, None)
    assert first == (date(2026, 1, 30), date(2026, 3, 2))
    assert rules.unsubscribe_window(T, T - timedelta(hours=2))[0] == date(2026, 2, 28)
    assert rules.unsubscribe_window(T, None, since=date(2026, 2, 1))[0] == date(2026, 2, 1)
    assert rules.unsubscribe_window(T, None, since=date(2027, 1, 1))[0] == date(2026, 3, 2)


def test_unsubscribe_rows_are_parsed_leniently() -> None:
    parsed = rules.parse_unsubscribe(
        {"email": " A@B.co ", "unsubscribed_at": "2026-03-01T10:00:00.5Z"}
    )
    assert parsed == ("a@b.co", datetime(2026, 3, 1, 10, 0, 0, 500000, tzinfo=UTC))
    assert rules.parse_unsubscribe({"email": "a@b.co", "unsubscribed_at": "2026-03-01T10:00:00"})
    for bad in (
        {"email": "a@b.co"},
        {"email": "nope", "unsubscribed_at": "2026-03-01"},
        {"email": "a@b.co", "unsubscribed_at": "yesterday"},
    ):
        assert rules.parse_unsubscribe(bad) is None


def test_the_report_partitions_what_it_checked() -> None:
    report = rules.ReconcileReport(connection="c")
    report.count("changed")
    report.count("skipped", 2)
    out = report.as_dict()
    assert (out["checked"], out["changed"], out["skipped"], out["unchanged"]) == (3, 1, 2, 0)
