"""Consent receipts: what a visitor chose, in the shape of a Kantara Consent Receipt v1.1 (the
basis of ISO/IEC TS 27560), backed by the ledger entries that recorded each choice, and signed.

A receipt is derived, never stored: it is the state of one subject's choices as of one ledger
entry (``as_of``), so the same inputs always give the same receipt, its id included, and the
human-readable page can be rebuilt from a short signed token. Signatures are HMAC-SHA256 over
the canonical JSON (sorted keys, no spaces, UTF-8) of the receipt without its ``signature``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

VERSION = "KI-CR-v1.1.0"
SIGNATURE_ALG = "HMAC-SHA256"
KEY_ID = "optline-receipt-1"
THIRD_PARTY = "Braze"
# What each channel's consent lets the controller use (Kantara "piiCategory").
PII_BY_CHANNEL = {
    "email": ["Contact: email address"],
    "sms": ["Contact: phone number"],
    "whatsapp": ["Contact: phone number"],
    "push": ["Device: push token"],
}
COLLECTION_METHODS = {
    "widget": "Preference center embedded in the website",
    "hosted": "Hosted preference page opened from a signed email link",
    "one_click": "One-click unsubscribe from an email (RFC 8058)",
    "admin": "Recorded by an administrator",
    "api": "Recorded through the API",
    "braze": "Changed on Braze's side and reconciled",
    "import": "Imported",
}


@dataclass(frozen=True)
class Choice:
    """One topic × channel as of the receipt, with the ledger entry that set it (if any)."""

    service: str  # the topic's name in the receipt's language
    subscription: str
    channel: str
    channel_label: str
    state: str
    text_version: int | None
    entry_id: int | None
    entry_hash: str | None
    at: datetime | None
    source: str | None


@dataclass(frozen=True)
class ReceiptFacts:
    receipt_id: str
    subject_key: str
    property_code: str
    controller: str
    controller_url: str
    language: str
    as_of: int
    consent_at: datetime
    source: str
    choices: Sequence[Choice]
    view_url: str
    verify_url: str


def build_receipt(facts: ReceiptFacts) -> dict[str, Any]:
    """The unsigned receipt document."""
    services: dict[str, list[dict[str, Any]]] = {}
    for choice in facts.choices:
        services.setdefault(choice.service, []).append(_purpose(choice))
    return {
        "version": VERSION,
        "consentTimestamp": int(facts.consent_at.timestamp()),
        "collectionMethod": COLLECTION_METHODS.get(facts.source, facts.source),
        "consentReceiptID": facts.receipt_id,
        "language": facts.language,
        "piiPrincipalId": facts.subject_key,
        "piiControllers": [
            {"piiController": facts.controller, "piiControllerUrl": facts.controller_url}
        ],
        "policyUrl": facts.controller_url,
        "services": [{"service": name, "purposes": items} for name, items in services.items()],
        "sensitive": False,
        "spiCat": [],
        "optline": {
            "property": facts.property_code,
            "asOfLedgerEntry": facts.as_of,
            "viewUrl": facts.view_url,
            "verifyUrl": facts.verify_url,
        },
    }


def _purpose(choice: Choice) -> dict[str, Any]:
    return {
        "purpose": f"{choice.service} — {choice.channel_label}",
        "purposeCategory": ["Marketing communications"],
        "consentType": "EXPLICIT" if choice.entry_id is not None else "NOT_GIVEN",
        "piiCategory": PII_BY_CHANNEL.get(choice.channel, ["Contact details"]),
        "primaryPurpose": False,
        "termination": "Until withdrawn in the preference center or with an unsubscribe link",
        "thirdPartyDisclosure": True,
        "thirdPartyName": THIRD_PARTY,
        # Optline's extensions: the choice, its notice version and the ledger entry behind it.
        "subscription": choice.subscription,
        "channel": choice.channel,
        "consentState": choice.state,
        "noticeVersion": choice.text_version,
        "recordedAt": choice.at.isoformat() if choice.at else None,
        "source": choice.source,
        "ledgerEntryId": choice.entry_id,
        "ledgerEntryHash": choice.entry_hash,
    }


def canonical(document: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_receipt(document: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    value = hmac.new(key, canonical(document), hashlib.sha256).hexdigest()
    return {**document, "signature": {"alg": SIGNATURE_ALG, "kid": KEY_ID, "value": value}}


def signature_holds(document: Any, key: bytes) -> bool:
    """True when ``document`` carries our signature over exactly its other fields."""
    if not isinstance(document, Mapping):
        return False
    sig = document.get("signature")
    if not isinstance(sig, Mapping) or sig.get("alg") != SIGNATURE_ALG:
        return False
    value = sig.get("value")
    if not isinstance(value, str):
        return False
    expected = hmac.new(key, canonical(document), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, value.lower())


def receipt_id(key: bytes, property_code: str, subject_key: str, as_of: int, language: str) -> str:
    message = f"receipt-id:{property_code}:{subject_key}:{as_of}:{language}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


@dataclass(frozen=True)
class ViewClaim:
    property_code: str
    subject_key: str
    as_of: int
    language: str


def view_token(key: bytes, claim: ViewClaim) -> str:
    """A capability to view one receipt (no cookie, no expiry: a receipt is a lasting record)."""
    payload = json.dumps(
        [claim.property_code, claim.subject_key, claim.as_of, claim.language],
        separators=(",", ":"),
    ).encode()
    encoded = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{encoded}.{_mac(key, encoded)}"


def read_view_token(key: bytes, token: str) -> ViewClaim | None:
    encoded, _, mac = token.partition(".")
    if not encoded or len(token) > 600 or not hmac.compare_digest(_mac(key, encoded), mac):
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(values, list) or len(values) != 4:
        return None
    code, subject_key, as_of, language = values
    if not all(isinstance(v, str) for v in (code, subject_key, language)):
        return None
    if not isinstance(as_of, int) or isinstance(as_of, bool):
        return None
    return ViewClaim(code, subject_key, as_of, language)


def _mac(key: bytes, encoded: str) -> str:
    return hmac.new(key, b"receipt-view:" + encoded.encode(), hashlib.sha256).hexdigest()[:32]


def backing_entries(document: Mapping[str, Any]) -> list[tuple[int, str]]:
    """The (ledger entry id, hash) pairs a receipt names, for checking against the ledger."""
    pairs: list[tuple[int, str]] = []
    for service in document.get("services") or []:
        purposes = service.get("purposes") if isinstance(service, Mapping) else None
        for purpose in purposes if isinstance(purposes, list) else []:
            if not isinstance(purpose, Mapping):
                continue
            entry_id, entry_hash = purpose.get("ledgerEntryId"), purpose.get("ledgerEntryHash")
            if isinstance(entry_id, int) and isinstance(entry_hash, str):
                pairs.append((entry_id, entry_hash))
    return pairs
