"""Two-way reconciliation against the Braze fake: paging, the most recent explicit action wins,
idempotence, no echo back to Braze, convergence, rate limits, and ``optline reconcile``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db import models
from backend.integrations.braze import BrazeClient
from backend.services.deps import Deps
from backend.services.reconcile import reconcile_connection
from backend.wiring import utc_clock
from tests.fakes.braze_fake import BrazeFake, Fault
from tests.integration.preferences.conftest import GROUPS
from tests.integration.rights.conftest import count, propagate, save

pytestmark = pytest.mark.integration
UNSUBSCRIBES = "/email/unsubscribes"
USER_STATUS = "/subscription/user/status"
NEWS_EMAIL = GROUPS[("newsletter", "email")]
OFFERS_EMAIL = GROUPS[("offers", "email")]
NEWS_SMS = GROUPS[("newsletter", "sms")]


def prefs(deps: Deps, sub: str) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(topic, channel) -> (state, sync_status, source) of one subject."""
    with deps.session() as session:
        rows = session.execute(
            select(
                models.Subscription.code,
                models.Preference.channel,
                models.Preference.state,
                models.Preference.sync_status,
                models.Preference.source,
            )
            .join(models.Subscription, models.Subscription.id == models.Preference.subscription_id)
            .join(models.Subject, models.Subject.id == models.Preference.subject_id)
            .where(models.Subject.external_id == sub)
        )
        return {(t, c): (s, y, o) for t, c, s, y, o in rows}


def counts(report: Any) -> tuple[int, int, int, int]:
    return report.checked, report.changed, report.unchanged, report.skipped


def braze_set(braze: BrazeFake, group: str, state: str, external_id: str) -> None:
    """A change made on Braze's side (a campaign's unsubscribe link, another tool)."""
    with BrazeClient(rest_endpoint=braze.url, api_key=braze.api_key) as client:
        client.subscription_status_set(group, state, external_ids=[external_id])


def test_unsubscribes_are_read_page_by_page(configured: Deps, braze: BrazeFake) -> None:
    now = datetime.now(UTC)
    for i in range(1203):
        braze.add_unsubscribe(f"stranger{i}@example.com", now - timedelta(minutes=i))
    report = reconcile_connection(configured, "braze-main")
    calls = braze.requests_to(UNSUBSCRIBES)
    assert [c.query["offset"] for c in calls] == [["0"], ["500"], ["1000"]]
    assert all(c.query["limit"] == ["500"] and c.query["sort_direction"] == ["asc"] for c in calls)
    today = now.date()
    assert calls[0].query["start_date"] == [(today - timedelta(days=30)).isoformat()]
    assert calls[0].query["end_date"] == [(today + timedelta(days=1)).isoformat()]
    assert report.unsubscribes_read == 1203 and report.unmatched == 1203
    assert counts(report) == (0, 0, 0, 0)
    # The next run starts a day before the last success, not 30 days back.
    reconcile_connection(configured, "braze-main")
    assert braze.requests_to(UNSUBSCRIBES)[-1].query["start_date"] == [
        (today - timedelta(days=1)).isoformat()
    ]


def test_a_newer_braze_unsubscribe_wins_once_and_reaches_the_groups(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    save(
        client,
        [
            ("newsletter", "email", "subscribed"),
            ("offers", "email", "subscribed"),
            ("newsletter", "sms", "subscribed"),
        ],
        sub="ann",
        email="ann@example.com",
    )
    propagate(configured)
    braze.add_unsubscribe("ANN@example.com", datetime.now(UTC) + timedelta(seconds=1))
    ledger = count(configured, models.LedgerEntry)

    report = reconcile_connection(configured, "braze-main")
    # One person changed by the unsubscribe; then /subscription/user/status still shows the two
    # email groups subscribed, but Optline's changes are pending: Optline's win (skipped).
    assert counts(report) == (4, 1, 1, 2)
    after = prefs(configured, "ann")
    assert after[("newsletter", "email")] == ("unsubscribed", "pending", "braze")
    assert after[("offers", "email")] == ("unsubscribed", "pending", "braze")
    assert after[("newsletter", "sms")][0] == "subscribed"  # not an email channel
    with configured.session() as session:
        entries = list(
            session.scalars(select(models.LedgerEntry).where(models.LedgerEntry.source == "braze"))
        )
        subject = session.scalars(select(models.Subject)).one()
    assert {(e.subscription, e.channel, e.state) for e in entries} == {
        ("newsletter", "email", "unsubscribed"),
        ("offers", "email", "unsubscribed"),
        ("*", "email", "unsubscribed"),
    }
    assert {e.proof for e in entries} == {"braze:email_unsubscribes"}
    assert subject.global_states == {"email_subscribe": "unsubscribed"}

    # The groups follow in Braze; afterwards both sides agree and nothing changes again.
    propagate(configured)
    assert braze.group_state(NEWS_EMAIL, external_id="ann") == "unsubscribed"
    assert braze.group_state(OFFERS_EMAIL, external_id="ann") == "unsubscribed"
    again = reconcile_connection(configured, "braze-main")
    assert again.changed == 0 and again.unchanged >= 1
    assert count(configured, models.LedgerEntry) == ledger + 3
    assert propagate(configured).requests == 0


def test_both_sides_converge_and_the_most_recent_action_wins(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    # early: Braze unsubscribed them an hour ago, then they subscribed in Optline. Optline wins.
    braze.add_unsubscribe("early@example.com", datetime.now(UTC) - timedelta(hours=1))
    save(client, [("newsletter", "email", "subscribed")], sub="early", email="early@example.com")
    # late: subscribed in Optline, then unsubscribed in Braze. Braze wins.
    save(client, [("newsletter", "email", "subscribed")], sub="late", email="late@example.com")
    propagate(configured)
    braze.add_unsubscribe("late@example.com", datetime.now(UTC) + timedelta(seconds=1))

    report = reconcile_connection(configured, "braze-main")
    # Unsubscribes: early skipped (Optline newer), late changed. Group states: early unchanged,
    # late skipped (its change back to Braze is pending).
    assert counts(report) == (4, 1, 1, 2)
    assert prefs(configured, "early")[("newsletter", "email")][0] == "subscribed"
    assert prefs(configured, "late")[("newsletter", "email")][0] == "unsubscribed"
    propagate(configured)
    for sub in ("early", "late"):
        optline = prefs(configured, sub)[("newsletter", "email")]
        assert optline[1] == "synced"
        assert braze.group_state(NEWS_EMAIL, external_id=sub) == optline[0]
    second = reconcile_connection(configured, "braze-main")
    assert second.changed == 0


def test_group_states_changed_in_braze_are_taken_without_an_echo(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    save(client, [("newsletter", "email", "subscribed")], sub="bea", email="bea@example.com")
    propagate(configured)
    braze_set(braze, NEWS_EMAIL, "unsubscribed", "bea")
    braze_set(braze, NEWS_SMS, "subscribed", "bea")  # a channel never chosen in Optline
    outbox = count(configured, models.OutboxEntry)
    requests_before = len(braze.requests)

    report = reconcile_connection(configured, "braze-main")
    assert counts(report) == (2, 2, 0, 0)
    calls = braze.requests_to(USER_STATUS)
    assert calls[-1].query["external_id"] == ["bea"]
    after = prefs(configured, "bea")
    assert after[("newsletter", "email")] == ("unsubscribed", "synced", "braze")
    assert after[("newsletter", "sms")] == ("subscribed", "synced", "braze")
    with configured.session() as session:
        proofs = set(
            session.scalars(
                select(models.LedgerEntry.proof).where(models.LedgerEntry.source == "braze")
            )
        )
    assert proofs == {"braze:subscription_user_status"}
    # No outbox rows: Braze has these states already; propagation sends nothing.
    assert count(configured, models.OutboxEntry) == outbox
    assert propagate(configured).requests == 0
    assert all(r.method == "GET" for r in braze.requests[requests_before:])
    assert counts(reconcile_connection(configured, "braze-main")) == (2, 0, 2, 0)


def test_a_pending_optline_change_wins_over_braze(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    braze.add_user("cy", subscription_groups={NEWS_EMAIL: "unsubscribed"})
    save(client, [("newsletter", "email", "subscribed")], sub="cy", email="cy@example.com")
    report = reconcile_connection(configured, "braze-main")
    assert counts(report) == (1, 0, 0, 1)
    assert prefs(configured, "cy")[("newsletter", "email")] == ("subscribed", "pending", "widget")
    propagate(configured)
    assert braze.group_state(NEWS_EMAIL, external_id="cy") == "subscribed"
    assert counts(reconcile_connection(configured, "braze-main")) == (1, 0, 1, 0)


def test_rate_limits_are_waited_out(
    client: FlaskClient, configured: Deps, braze: BrazeFake, no_sleep: list[float]
) -> None:
    save(client, [("newsletter", "email", "subscribed")], sub="dee", email="dee@example.com")
    braze.script(UNSUBSCRIBES, [Fault(status=429, reset_in=2)])
    braze.script(USER_STATUS, [Fault(status=503), Fault(status=429, reset_in=1)])
    report = reconcile_connection(configured, "braze-main")
    assert [r.status for r in braze.requests_to(UNSUBSCRIBES)] == [429, 200]
    assert [r.status for r in braze.requests_to(USER_STATUS)] == [503, 429, 200]
    assert len(no_sleep) == 3 and report.checked == 0


def test_a_braze_failure_is_reported_and_the_watermark_stays(
    configured: Deps, braze: BrazeFake, no_sleep: list[float]
) -> None:
    from backend.domain.errors import PermanentError

    braze.script(UNSUBSCRIBES, [Fault(status=401)])
    with pytest.raises(PermanentError):
        reconcile_connection(configured, "braze-main")
    with configured.session() as session:
        state = session.scalars(select(models.ReconcileState)).one()
    assert state.last_success_at is None and "401" in (state.last_error or "")


def test_the_command_prints_the_counts(
    configured: Deps, braze: BrazeFake, database_url: str, tmp_path: Path
) -> None:
    import backend.cli
    from backend.cli import cli

    if "reconcile" not in cli.commands:
        backend.cli._register()
    env = {
        "OPTLINE_DATABASE_URL": database_url,
        "OPTLINE_INSTANCE_PATH": str(tmp_path / "cli"),
        "OPTLINE_ENCRYPTION_KEY": configured.settings.encryption_key,
        "OPTLINE_SECRET_KEY": configured.settings.secret_key,
        "OPTLINE_ENV": "development",
        "OPTLINE_REDIS_URL": "",
    }
    result = CliRunner().invoke(cli, ["reconcile", "braze-main"], env=env)
    assert result.exit_code == 0, result.output
    assert "checked 0, changed 0, unchanged 0, skipped 0" in result.output
    missing = CliRunner().invoke(cli, ["reconcile", "nope"], env=env)
    assert missing.exit_code == 1
    assert "error: Braze connection 'nope' does not exist" in missing.output
    bad = CliRunner().invoke(cli, ["reconcile", "braze-main", "--since", "x"], env=env)
    assert bad.exit_code == 1 and "--since" in bad.output


def test_the_periodic_job_skips_sandbox_connections(configured: Deps, braze: BrazeFake) -> None:
    from backend.services.reconcile import reconcile_all

    with configured.session() as session:
        session.scalars(select(models.BrazeConnection)).one().sandbox = True
    assert reconcile_all(configured) == {}
    later = utc_clock()
    assert braze.requests == [] and later
