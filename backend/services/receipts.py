"""Consent receipts for visitors: built from the ledger on demand, signed with a per-installation
key, shown as a page behind a signed link, and verified (signature and ledger) for anyone holding
one. Shape and signing rules in ``backend.domain.receipts``.

The key is random, created on first use and stored encrypted (``optline keys rotate``
re-encrypts it), so receipts stay verifiable when ``OPTLINE_SECRET_KEY`` changes.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db.models import InstallationSecret, LedgerEntry, Property
from backend.domain.errors import NotFoundError, ValidationError
from backend.domain.preferences import ALL_TOPICS
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
from backend.domain.texts import channel_label, choose_language, localised, text
from backend.services.catalogue import find_subject, load_property, load_topics
from backend.services.deps import Deps
from backend.services.widget_identity import authenticate

KEY_NAME = "receipt_key"
CACHE_KEY = "receipts.key"
PAGE_PATH = "/receipt/"
VERIFY_PATH = "/api/public/v1/receipts/verify"
MAX_BACKING = 500


def receipt_key(deps: Deps, session: Session) -> bytes:
    """The installation's receipt key: read once per process, created on first use."""
    cached = deps.extras.get(CACHE_KEY)
    if isinstance(cached, bytes):
        return cached
    stored = session.get(InstallationSecret, KEY_NAME)
    if stored is None:
        fresh = base64.b64encode(secrets.token_bytes(32)).decode()
        try:
            with session.begin_nested():
                session.add(
                    InstallationSecret(
                        name=KEY_NAME,
                        value_encrypted=deps.secrets.encrypt(fresh),
                        created_at=deps.clock(),
                    )
                )
        except IntegrityError:
            pass  # another process created it first: read theirs
        stored = session.get(InstallationSecret, KEY_NAME)
        assert stored is not None
    value = base64.b64decode(deps.secrets.decrypt(stored.value_encrypted))
    deps.extras[CACHE_KEY] = value
    return value


def visitor_receipt(
    deps: Deps, token: str | None, property_code: str, language: str | None
) -> dict[str, Any]:
    """The calling visitor's receipt as of their latest ledger entry; TokenRejectedError for a bad
    token, NotFoundError when nothing is recorded for them yet."""
    with deps.session() as session:
        prop = load_property(session, property_code)
        identity = authenticate(deps, session, prop, token or "", int(deps.clock().timestamp()))
        subject = find_subject(session, identity, lock=False)
        as_of = None
        if subject is not None:
            as_of = session.scalar(
                select(func.max(LedgerEntry.id)).where(
                    LedgerEntry.subject_key == subject.subject_key
                )
            )
        if subject is None or not as_of:
            raise NotFoundError("no choice of yours is recorded yet: save your preferences first")
        lang = choose_language(language, prop.languages or [])
        return _receipt(deps, session, prop, subject.subject_key, int(as_of), lang)


def page_receipt(
    deps: Deps, property_code: str, wanted_id: str, token: str
) -> dict[str, Any] | None:
    """The receipt a page link names, rebuilt; None when the link is not one we signed."""
    with deps.session() as session:
        claim = read_view_token(receipt_key(deps, session), token)
        if claim is None or claim.property_code != property_code:
            return None
        prop = session.scalar(select(Property).where(Property.code == property_code))
        anchor = session.get(LedgerEntry, claim.as_of)
        if prop is None or anchor is None or anchor.subject_key != claim.subject_key:
            return None
        receipt = _receipt(deps, session, prop, claim.subject_key, claim.as_of, claim.language)
    return receipt if receipt["consentReceiptID"] == wanted_id else None


def verify_receipt(deps: Deps, document: Any) -> dict[str, Any]:
    """Whether a receipt is ours and unaltered, and whether the ledger still backs each choice."""
    if not isinstance(document, dict):
        raise ValidationError("body: must be a consent receipt (a JSON object)")
    pairs = backing_entries(document)[:MAX_BACKING]
    with deps.session() as session:
        signature_ok = signature_holds(document, receipt_key(deps, session))
        found = {
            row.id: (row.hash, row.subject_key)
            for row in session.execute(
                select(LedgerEntry.id, LedgerEntry.hash, LedgerEntry.subject_key).where(
                    LedgerEntry.id.in_([entry_id for entry_id, _ in pairs])
                )
            )
        }
    subject = document.get("piiPrincipalId")
    ledger_ok = bool(pairs) and all(
        found.get(entry_id) == (entry_hash, subject) for entry_id, entry_hash in pairs
    )
    return {
        "valid": signature_ok and ledger_ok,
        "signature": signature_ok,
        "ledger": ledger_ok,
        "consentReceiptID": document.get("consentReceiptID"),
    }


def _latest_entries(
    session: Session, subject_key: str, as_of: int
) -> dict[tuple[str, str], LedgerEntry]:
    """The subject's last ledger entry per (topic, channel), as of entry ``as_of``."""
    last = (
        select(func.max(LedgerEntry.id))
        .where(LedgerEntry.subject_key == subject_key, LedgerEntry.id <= as_of)
        .group_by(LedgerEntry.subscription, LedgerEntry.channel)
    )
    rows = session.scalars(select(LedgerEntry).where(LedgerEntry.id.in_(last)))
    return {(e.subscription, e.channel): e for e in rows}


def _receipt(
    deps: Deps, session: Session, prop: Property, subject_key: str, as_of: int, lang: str
) -> dict[str, Any]:
    key = receipt_key(deps, session)
    latest = _latest_entries(session, subject_key, as_of)
    languages = list(prop.languages or [])
    choices: list[Choice] = []
    for topic in load_topics(session, prop):
        name = localised(dict(topic.name), lang, languages) or topic.code
        for spec in topic.channels:
            entry = latest.get((topic.code, spec.channel))
            choices.append(_choice(name, topic.code, spec.channel, lang, entry, topic.text_version))
    for (code, channel), entry in sorted(latest.items()):
        if code == ALL_TOPICS:
            choices.append(_choice(text(lang, "unsubscribe_all"), code, channel, lang, entry, None))
    anchor = session.get(LedgerEntry, as_of)
    assert anchor is not None
    base = deps.settings.public_url.rstrip("/")
    rid = receipt_id(key, prop.code, subject_key, as_of, lang)
    token = view_token(key, ViewClaim(prop.code, subject_key, as_of, lang))
    origins = [o for o in prop.allowed_origins or [] if isinstance(o, str)]
    facts = ReceiptFacts(
        receipt_id=rid,
        subject_key=subject_key,
        property_code=prop.code,
        controller=prop.name,
        controller_url=origins[0] if origins else base,
        language=lang,
        as_of=as_of,
        consent_at=anchor.at,
        source=anchor.source,
        choices=choices,
        view_url=f"{base}{PAGE_PATH}{prop.code}/{rid}?t={token}",
        verify_url=base + VERIFY_PATH,
    )
    return sign_receipt(build_receipt(facts), key)


def _choice(
    service: str,
    code: str,
    channel: str,
    lang: str,
    entry: LedgerEntry | None,
    text_version: int | None,
) -> Choice:
    return Choice(
        service=service,
        subscription=code,
        channel=channel,
        channel_label=channel_label(lang, channel),
        state=entry.state if entry else "unsubscribed",
        text_version=entry.text_version if entry else text_version,
        entry_id=entry.id if entry else None,
        entry_hash=entry.hash if entry else None,
        at=entry.at if entry else None,
        source=entry.source if entry else None,
    )
