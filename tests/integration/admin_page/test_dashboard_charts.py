"""The dashboard shows consent changes per topic × channel and the outbox's health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from backend.db.models import LedgerEntry
from backend.services.deps import Deps


def add_entry(deps: Deps, n: int, state: str, at: datetime) -> None:
    with deps.session() as session:
        session.add(
            LedgerEntry(
                at=at,
                subject_key=f"s{n}",
                subscription="newsletter",
                channel="email",
                state=state,
                source="widget",
                proof="token:k1",
                prev_hash=f"{n - 1:064d}",
                hash=f"{n:064d}",
            )
        )


def test_dashboard_charts_opt_ins_and_opt_outs(admin: FlaskClient, deps: Deps) -> None:
    now = datetime.now(UTC)
    add_entry(deps, 1, "subscribed", now - timedelta(days=2))
    add_entry(deps, 2, "subscribed", now - timedelta(days=1))
    add_entry(deps, 3, "unsubscribed", now)
    add_entry(deps, 4, "subscribed", now - timedelta(days=45))  # older than the chart
    html = admin.get("/admin/").get_data(as_text=True)
    assert "newsletter on email: 2 opt-ins and 1 opt-outs" in html
    assert html.count("<polyline") == 2
    assert "Sync lag" in html


def test_dashboard_without_consent_changes_says_so(admin: FlaskClient) -> None:
    html = admin.get("/admin/").get_data(as_text=True)
    assert "No consent changes in the last 30 days." in html
