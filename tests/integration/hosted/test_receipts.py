"""Consent receipts: the Kantara v1.1 / ISO/IEC TS 27560 shape backed by ledger entries, the
signature and its verification (tampering detected), and the human-readable page."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.domain.receipts import sign_receipt
from backend.services.deps import Deps
from backend.services.receipts import receipt_key
from tests.integration.hosted.conftest import PROPERTY, ledger, row_counts
from tests.integration.preferences.conftest import auth, token

pytestmark = pytest.mark.integration
VERIFY = "/api/public/v1/receipts/verify"
RECEIPT = f"/api/public/v1/{PROPERTY}/receipt"


def save(client: FlaskClient, changes: list[tuple[str, str, str]], sub: str = "user-1") -> None:
    body = {
        "property": PROPERTY,
        "changes": [{"subscription": t, "channel": c, "state": s} for t, c, s in changes],
    }
    headers = auth(token(sub, email="jane@example.com"))
    response = client.post(f"/api/public/v1/{PROPERTY}/preferences", json=body, headers=headers)
    assert response.status_code == 200


def fetch(client: FlaskClient, sub: str = "user-1", language: str = "en") -> dict[str, Any]:
    """As the widget asks: a text/plain POST with the token in the body."""
    body = json.dumps({"property": PROPERTY, "language": language, "token": token(sub)})
    response = client.post(RECEIPT, data=body, content_type="text/plain;charset=UTF-8")
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    return dict(response.get_json())


def purposes(receipt: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (p["subscription"], p["channel"]): p for s in receipt["services"] for p in s["purposes"]
    }


def test_the_receipt_says_what_was_chosen_and_which_entries_back_it(
    client: FlaskClient, configured: Deps
) -> None:
    save(client, [("newsletter", "email", "subscribed"), ("offers", "push", "subscribed")])
    save(client, [("offers", "push", "unsubscribed")])
    receipt = fetch(client)
    entries = {(e.subscription, e.channel): e for e in ledger(configured)}  # the latest wins

    assert receipt["version"] == "KI-CR-v1.1.0"
    assert uuid.UUID(receipt["consentReceiptID"])
    assert receipt["consentTimestamp"] == int(entries[("offers", "push")].at.timestamp())
    assert receipt["collectionMethod"] == "Preference center embedded in the website"
    assert receipt["language"] == "en"
    assert receipt["piiPrincipalId"] == entries[("offers", "push")].subject_key
    assert receipt["piiControllers"] == [
        {"piiController": "ACME website", "piiControllerUrl": "https://www.acme.com"}
    ]
    assert [s["service"] for s in receipt["services"]] == ["Newsletter", "Offers"]
    chosen = purposes(receipt)
    assert set(chosen) == {
        ("newsletter", "email"), ("newsletter", "sms"), ("offers", "email"), ("offers", "push")
    }  # fmt: skip
    email = chosen[("newsletter", "email")]
    assert email["consentState"] == "subscribed" and email["consentType"] == "EXPLICIT"
    assert email["purpose"] == "Newsletter — Email"
    assert email["noticeVersion"] == 1 and email["source"] == "widget"
    assert email["thirdPartyName"] == "Braze"
    assert email["ledgerEntryId"] == entries[("newsletter", "email")].id
    assert email["ledgerEntryHash"] == entries[("newsletter", "email")].hash
    assert chosen[("offers", "push")]["consentState"] == "unsubscribed"
    assert chosen[("offers", "push")]["ledgerEntryId"] == entries[("offers", "push")].id
    never = chosen[("newsletter", "sms")]
    assert never["consentState"] == "unsubscribed" and never["ledgerEntryId"] is None
    assert never["consentType"] == "NOT_GIVEN"
    assert receipt["signature"]["alg"] == "HMAC-SHA256" and len(receipt["signature"]["value"]) == 64
    # Pseudonymous: neither the external id nor the email appears anywhere.
    text = json.dumps(receipt)
    assert "user-1" not in text and "jane@example.com" not in text

    # The same state gives the same receipt; the documented GET (Authorization header) too.
    again = client.get(f"{RECEIPT}?language=en", headers=auth(token("user-1")))
    assert again.status_code == 200 and again.get_json() == receipt


def test_a_receipt_in_spanish(client: FlaskClient, configured: Deps) -> None:
    save(client, [("newsletter", "email", "subscribed")])
    receipt = fetch(client, language="es")
    assert receipt["language"] == "es"
    assert receipt["services"][0]["service"] == "Boletín"
    assert receipt["consentReceiptID"] != fetch(client)["consentReceiptID"]


def test_verification_accepts_a_receipt_and_detects_tampering(
    client: FlaskClient, configured: Deps
) -> None:
    save(client, [("newsletter", "email", "subscribed")])
    receipt = fetch(client)
    ok = client.post(VERIFY, json=receipt)
    assert ok.status_code == 200
    assert ok.get_json() == {
        "valid": True,
        "signature": True,
        "ledger": True,
        "consentReceiptID": receipt["consentReceiptID"],
    }
    assert ok.headers["Access-Control-Allow-Origin"] == "*"

    tampered = json.loads(json.dumps(receipt))
    tampered["services"][0]["purposes"][0]["consentState"] = "unsubscribed"
    assert client.post(VERIFY, json=tampered).get_json()["valid"] is False
    assert client.post(VERIFY, json=tampered).get_json()["signature"] is False

    unsigned = {k: v for k, v in receipt.items() if k != "signature"}
    assert client.post(VERIFY, json=unsigned).get_json()["valid"] is False

    # Signed by us but naming a ledger entry that does not say so: the ledger check catches it.
    wrong = json.loads(json.dumps(receipt))
    wrong["services"][0]["purposes"][0]["ledgerEntryHash"] = "0" * 64
    with configured.session() as session:
        key = receipt_key(configured, session)
    resigned = sign_receipt(wrong, key)
    result = client.post(VERIFY, json=resigned).get_json()
    assert (result["signature"], result["ledger"], result["valid"]) == (True, False, False)

    assert client.post(VERIFY, data="not json", content_type="text/plain").status_code == 400


def test_the_receipt_page_shows_the_choices_behind_a_signed_link(
    client: FlaskClient, configured: Deps
) -> None:
    save(client, [("newsletter", "email", "subscribed")])
    receipt = fetch(client)
    url = receipt["optline"]["viewUrl"].removeprefix("http://127.0.0.1:8000")
    assert url.startswith(f"/receipt/{PROPERTY}/{receipt['consentReceiptID']}?t=")
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert receipt["consentReceiptID"] in html
    row = re.search(r"<td>Newsletter</td>\s*<td>Email</td>\s*<td>([^<]+)</td>", html)
    assert row and row.group(1) == "Subscribed"
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    # A later save does not change what an earlier receipt's page shows.
    save(client, [("newsletter", "email", "unsubscribed")])
    assert client.get(url).get_data(as_text=True) == html

    forged = url[:-4] + ("aaaa" if not url.endswith("aaaa") else "bbbb")
    assert client.get(forged).status_code == 403
    other_id = url.replace(receipt["consentReceiptID"], str(uuid.uuid4()))
    assert client.get(other_id).status_code == 403


def test_no_receipt_without_a_valid_token_or_before_any_choice(
    client: FlaskClient, configured: Deps
) -> None:
    before = row_counts(configured)
    assert client.post(RECEIPT, json={"property": PROPERTY}).status_code == 401
    assert client.post(RECEIPT, json={"property": PROPERTY, "token": "nope"}).status_code == 401
    assert client.get(RECEIPT + f"?token={token()}").status_code == 401  # never from a URL
    assert client.post(RECEIPT, json={"property": PROPERTY, "token": token()}).status_code == 404
    assert row_counts(configured) == before
