"""The email-code fallback: send, read the code from the dev outbox, verify, use the session."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db import models
from backend.services.deps import Deps
from backend.wiring import utc_clock
from tests.integration.preferences.conftest import PROPERTY, auth, row_counts

pytestmark = pytest.mark.integration
CODES = "/api/public/v1/email-codes"
VERIFY = "/api/public/v1/email-codes/verify"
EMAIL = "Visitor@Example.com"


def send(client: FlaskClient, email: str = EMAIL, prop: str = PROPERTY, **extra: Any):
    return client.post(CODES, json={"property": prop, "email": email, **extra})


def latest_code(deps: Deps) -> str:
    with deps.session() as session:
        mail = session.scalars(
            select(models.MailMessage).order_by(models.MailMessage.id.desc())
        ).first()
    assert mail is not None and mail.status == "shown" and mail.purpose == "email_code"
    found = re.search(r"\b(\d{6})\b", mail.body)
    assert found
    return found.group(1)


def verify(client: FlaskClient, code: str, email: str = EMAIL):
    return client.post(VERIFY, json={"property": PROPERTY, "email": email, "code": code})


def shift_clock(deps: Deps, seconds: float) -> None:
    deps.clock = lambda: utc_clock() + timedelta(seconds=seconds)


def test_the_whole_flow_yields_a_session_that_reads_and_saves(
    client: FlaskClient, configured: Deps
) -> None:
    sent = send(client, language="es")
    assert sent.status_code == 202 and sent.get_json() == {"sent": True, "resend_after": 60}
    with configured.session() as session:
        mail = session.scalars(select(models.MailMessage)).one()
        assert mail.to_address == "visitor@example.com" and "Tu código" in mail.subject
        stored = session.scalars(select(models.EmailCode)).one()
    code = latest_code(configured)
    assert code not in (stored.code_hash, stored.email_hash) and "@" not in stored.email_hash
    granted = verify(client, code)
    assert granted.status_code == 200
    grant = granted.get_json()
    assert grant["expires_in"] == 900 and grant["session_token"].count(".") == 2
    boot = client.post(
        "/api/public/v1/bootstrap",
        json={"property": PROPERTY},
        headers=auth(grant["session_token"]),
    )
    assert boot.status_code == 200
    assert boot.get_json()["visitor"] == {
        "email_masked": "v***@example.com",
        "can_request_data": True,
    }
    change = {"subscription": "newsletter", "channel": "email", "state": "subscribed"}
    saved = client.post(
        "/api/public/v1/preferences",
        json={"property": PROPERTY, "changes": [change]},
        headers=auth(grant["session_token"]),
    )
    assert saved.status_code == 200
    with configured.session() as session:
        subject = session.scalars(select(models.Subject)).one()
        entry = session.scalars(select(models.LedgerEntry)).one()
        outbox = session.scalars(select(models.OutboxEntry)).one()
    assert subject.external_id is None and subject.email == "visitor@example.com"
    assert entry.proof == "email_code" and entry.source == "widget"
    # An email-only visitor's change is on its way to Braze (through a user alias), never lost.
    assert outbox.subject_id == subject.id and outbox.status in ("pending", "dead")
    channel = saved.get_json()["topics"][0]["channels"][0]
    assert channel["state"] == "subscribed" and channel["sync_status"] in ("pending", "failed")
    # A used code cannot be used twice.
    assert verify(client, code).status_code == 400


def test_unknown_addresses_get_the_same_answer(client: FlaskClient, configured: Deps) -> None:
    assert (
        send(client, "nobody-ever@example.org").get_json()
        == send(client, "x@example.net").get_json()
    )


def test_five_wrong_codes_burn_the_code(client: FlaskClient, configured: Deps) -> None:
    send(client)
    code = latest_code(configured)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    lefts = []
    for _ in range(5):
        response = verify(client, wrong)
        assert response.status_code == 400
        error = response.get_json()["error"]
        assert error["code"] == "code_invalid"
        lefts.append(error["details"]["tries_left"])
    assert lefts == [4, 3, 2, 1, 0]
    burnt = verify(client, code)
    assert burnt.status_code == 400 and burnt.get_json()["error"]["code"] == "code_invalid"


def test_an_expired_code_is_refused(client: FlaskClient, configured: Deps) -> None:
    send(client)
    code = latest_code(configured)
    shift_clock(configured, 601)
    response = verify(client, code)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "code_expired"


def test_resending_within_a_minute_is_429_with_retry_after(
    client: FlaskClient, configured: Deps
) -> None:
    assert send(client).status_code == 202
    again = send(client)
    assert again.status_code == 429
    assert again.get_json()["error"]["code"] == "cooldown"
    assert 1 <= int(again.headers["Retry-After"]) <= 60
    assert row_counts(configured)["email_codes"] == 1
    shift_clock(configured, 61)
    assert send(client).status_code == 202
    # The new code replaces the old one.
    assert verify(client, latest_code(configured)).status_code == 200


def test_codes_per_email_are_limited_per_hour(client: FlaskClient, configured: Deps) -> None:
    statuses = []
    for n in range(6):
        shift_clock(configured, 61 * (n + 1))  # past each cool-down
        statuses.append(send(client).status_code)
    assert statuses == [202] * 5 + [429]
    assert send(client, "someone-else@example.com").status_code == 202


def test_verify_attempts_are_limited(client: FlaskClient, configured: Deps) -> None:
    statuses = [verify(client, "000000").status_code for _ in range(11)]
    assert statuses[:10] == [400] * 10 and statuses[10] == 429


def test_properties_without_email_verification_refuse(
    client: FlaskClient, configured: Deps
) -> None:
    response = send(client, prop="other-site")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "email_verification_disabled"
    assert row_counts(configured)["email_codes"] == 0


@pytest.mark.parametrize(
    "body",
    [{"property": PROPERTY}, {"property": PROPERTY, "email": "not-an-email"}, {"email": EMAIL}, []],
)
def test_bad_code_requests_are_400(client: FlaskClient, configured: Deps, body: Any) -> None:
    response = client.post(CODES, json=body)
    assert response.status_code == 400 and response.get_json()["error"]["message"]
    assert row_counts(configured)["mail_messages"] == 0


def test_smtp_is_used_when_configured(client: FlaskClient, configured: Deps) -> None:
    sent: list[tuple[str, str, str]] = []
    configured.mailer = lambda to, subject, body: sent.append((to, subject, body))
    send(client)
    assert len(sent) == 1 and sent[0][0] == "visitor@example.com"
    with configured.session() as session:
        assert session.scalars(select(models.MailMessage)).one().status == "sent"
