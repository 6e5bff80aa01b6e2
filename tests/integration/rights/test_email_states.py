"""Admin email states: /email/blocklist and /email/status, 50 addresses a call, audited, and in
the ledger of the subjects who have the address."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db import models
from backend.services.deps import Deps
from tests.fakes.braze_fake import BrazeFake, Fault
from tests.integration.rights.conftest import ADMIN, count, save

pytestmark = pytest.mark.integration


def addresses(n: int) -> list[str]:
    return [f"person{i}@example.com" for i in range(n)]


def test_blocklisting_120_addresses_takes_three_calls_and_is_recorded(
    client: FlaskClient, configured: Deps, braze: BrazeFake, admin: dict[str, str]
) -> None:
    save(client, [("newsletter", "email", "subscribed")], sub="p7", email="person7@example.com")
    emails = [e.upper() if i == 3 else e for i, e in enumerate(addresses(120))]
    response = client.post(
        f"{ADMIN}/email/blocklist",
        json={"connection": "braze-main", "emails": [*emails, emails[0]]},
        headers=admin,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "connection": "braze-main",
        "state": "unsubscribed",
        "emails": 120,
        "calls": 3,
        "ledger_entries": 1,
    }
    sizes = [len(r.body["email"]) for r in braze.requests_to("/email/blocklist")]
    assert sizes == [50, 50, 20]
    assert braze.blocklisted_emails == set(addresses(120))
    with configured.session() as session:
        audit = session.scalars(
            select(models.AuditEntry).where(models.AuditEntry.action == "blocklist")
        ).one()
        entry = session.scalars(
            select(models.LedgerEntry).order_by(models.LedgerEntry.id.desc())
        ).first()
        subject = session.scalars(select(models.Subject)).one()
    assert audit.actor.startswith("api:") and audit.details["count"] == 120
    assert "@" not in str(audit.details)
    assert entry is not None
    assert (entry.subscription, entry.channel, entry.state, entry.source) == (
        "*",
        "email",
        "unsubscribed",
        "admin",
    )
    assert subject.global_states == {"email_subscribe": "unsubscribed"}
    verify = client.get(f"{ADMIN}/ledger/verify", headers=admin).get_json()
    assert verify["ok"] is True


def test_setting_the_global_state_chunks_and_opted_in_is_a_subscribe(
    client: FlaskClient, configured: Deps, braze: BrazeFake, admin: dict[str, str]
) -> None:
    save(client, [("newsletter", "email", "subscribed")], sub="p1", email="person1@example.com")
    response = client.post(
        f"{ADMIN}/email/status",
        json={"connection": "braze-main", "emails": addresses(51), "state": "opted_in"},
        headers=admin,
    )
    assert response.status_code == 200 and response.get_json()["calls"] == 2
    bodies = [r.body for r in braze.requests_to("/email/status")]
    assert [len(b["email"]) for b in bodies] == [50, 1]
    assert {b["subscription_state"] for b in bodies} == {"opted_in"}
    with configured.session() as session:
        entry = session.scalars(
            select(models.LedgerEntry).order_by(models.LedgerEntry.id.desc())
        ).first()
    assert entry is not None and entry.state == "subscribed" and "email_status" in entry.proof


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("blocklist", {"emails": ["a@example.com"]}),
        ("blocklist", {"connection": "braze-main", "emails": []}),
        ("blocklist", {"connection": "braze-main", "emails": ["a@example.com", "nope"]}),
        ("blocklist", {"connection": "braze-main", "emails": "a@example.com"}),
        ("blocklist", {"connection": "braze-main", "emails": ["a@example.com"], "x": 1}),
        ("blocklist", {"connection": "braze-main", "emails": addresses(1001)}),
        ("status", {"connection": "braze-main", "emails": ["a@example.com"]}),
        ("status", {"connection": "braze-main", "emails": ["a@example.com"], "state": "gone"}),
    ],
)
def test_bad_input_is_400_and_nothing_is_sent_or_written(
    client: FlaskClient,
    configured: Deps,
    braze: BrazeFake,
    admin: dict[str, str],
    path: str,
    body: dict[str, Any],
) -> None:
    audits = count(configured, models.AuditEntry)
    response = client.post(f"{ADMIN}/email/{path}", json=body, headers=admin)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"]
    assert braze.requests == []
    assert count(configured, models.AuditEntry) == audits


def test_unknown_connections_are_404_and_a_braze_refusal_is_reported(
    client: FlaskClient, configured: Deps, braze: BrazeFake, admin: dict[str, str]
) -> None:
    unknown = client.post(
        f"{ADMIN}/email/blocklist",
        json={"connection": "nope", "emails": ["a@example.com"]},
        headers=admin,
    )
    assert unknown.status_code == 404
    braze.script("/email/blocklist", [Fault(status=200), Fault(status=400)])
    refused = client.post(
        f"{ADMIN}/email/blocklist",
        json={"connection": "braze-main", "emails": addresses(60)},
        headers=admin,
    )
    assert refused.status_code == 502 and refused.get_json()["error"]["code"] == "braze_error"
    with configured.session() as session:
        audit = session.scalars(
            select(models.AuditEntry).where(models.AuditEntry.action == "blocklist")
        ).one()
    assert audit.details["count"] == 50 and audit.details["partial"] is True


def test_rate_limited_calls_are_retried(
    client: FlaskClient,
    configured: Deps,
    braze: BrazeFake,
    admin: dict[str, str],
    no_sleep: list[float],
) -> None:
    braze.script("/email/status", [Fault(status=429, reset_in=2)])
    response = client.post(
        f"{ADMIN}/email/status",
        json={"connection": "braze-main", "emails": addresses(3), "state": "unsubscribed"},
        headers=admin,
    )
    assert response.status_code == 200
    assert [r.status for r in braze.requests_to("/email/status")] == [429, 201]
    assert no_sleep and 1 <= no_sleep[0] <= 3
