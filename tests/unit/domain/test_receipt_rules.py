"""Consent receipts: canonical signing, tamper detection, view tokens, ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from backend.domain.receipts import (
    Choice,
    ReceiptFacts,
    ViewClaim,
    backing_entries,
    build_receipt,
    read_view_token,
    receipt_id,
    sign_receipt,
    signature_holds,
    view_token,
)

KEY = b"k" * 32
AT = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def facts() -> ReceiptFacts:
    chosen = Choice("Newsletter", "newsletter", "email", "Email", "subscribed", 2, 7, "h" * 64, AT,
                    "hosted")  # fmt: skip
    never = Choice("Newsletter", "newsletter", "sms", "SMS", "unsubscribed", 2, None, None, None,
                   None)  # fmt: skip
    return ReceiptFacts(
        receipt_id=receipt_id(KEY, "acme-web", "subject-key", 7, "en"),
        subject_key="subject-key",
        property_code="acme-web",
        controller="ACME",
        controller_url="https://www.acme.com",
        language="en",
        as_of=7,
        consent_at=AT,
        source="hosted",
        choices=[chosen, never],
        view_url="https://prefs.example/receipt/x",
        verify_url="https://prefs.example/api/public/v1/receipts/verify",
    )


def test_a_signed_receipt_verifies_and_any_change_breaks_it() -> None:
    receipt = sign_receipt(build_receipt(facts()), KEY)
    assert receipt["consentTimestamp"] == int(AT.timestamp())
    assert receipt["collectionMethod"].startswith("Hosted preference page")
    assert signature_holds(receipt, KEY)
    assert signature_holds(dict(reversed(list(receipt.items()))), KEY)  # key order is irrelevant
    assert not signature_holds(receipt, b"another key")
    changed = {**receipt, "piiPrincipalId": "someone-else"}
    assert not signature_holds(changed, KEY)
    assert not signature_holds({**receipt, "signature": {"alg": "none"}}, KEY)
    assert not signature_holds("not a receipt", KEY)
    assert backing_entries(receipt) == [(7, "h" * 64)]


def test_receipt_ids_are_stable_uuids_per_state_and_language() -> None:
    first = receipt_id(KEY, "acme-web", "s", 7, "en")
    assert first == receipt_id(KEY, "acme-web", "s", 7, "en")
    assert uuid.UUID(first).version == 4
    assert first != receipt_id(KEY, "acme-web", "s", 8, "en")
    assert first != receipt_id(KEY, "acme-web", "s", 7, "es")


def test_view_tokens_round_trip_and_refuse_edits() -> None:
    claim = ViewClaim("acme-web", "subject-key", 7, "es")
    token = view_token(KEY, claim)
    assert read_view_token(KEY, token) == claim
    assert read_view_token(b"other", token) is None
    payload, _, mac = token.partition(".")
    edited = view_token(KEY, ViewClaim("acme-web", "someone-else", 7, "es")).split(".")[0]
    assert read_view_token(KEY, f"{edited}.{mac}") is None
    assert read_view_token(KEY, payload) is None
    assert read_view_token(KEY, "") is None
