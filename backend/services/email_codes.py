"""Proving an email with a one-time code: 6 digits, 10 minutes, 5 tries, a 60 s resend cool-down.

Codes and addresses are stored only as HMACs keyed with ``OPTLINE_SECRET_KEY``, so a database dump
reveals neither. Sending always answers the same way, whether or not the address is known.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db.models import EmailCode, Property
from backend.domain.email_codes import (
    CODE_DIGITS,
    CODE_TTL_SECONDS,
    MAX_TRIES,
    RESEND_COOLDOWN_SECONDS,
    SESSION_TTL_SECONDS,
    CodeRequest,
    VerifyRequest,
)
from backend.domain.texts import choose_language, text
from backend.services.catalogue import load_property
from backend.services.deps import Deps
from backend.services.mailer import send_mail
from backend.services.widget_identity import mint_session_token

log = logging.getLogger(__name__)


class EmailVerificationDisabledError(Exception):
    """The property does not offer the email-code fallback."""


class CooldownError(Exception):
    """A code was sent to this address moments ago."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"a code was just sent; try again in {retry_after} seconds")
        self.retry_after = retry_after


class CodeRejectedError(Exception):
    """Wrong, burnt or expired code; ``code`` is "code_invalid" or "code_expired"."""

    def __init__(self, code: str, message: str, tries_left: int) -> None:
        super().__init__(message)
        self.code = code
        self.tries_left = tries_left


@dataclass(frozen=True)
class SessionGrant:
    session_token: str
    expires_in: int


def _digest(deps: Deps, label: str, value: str) -> str:
    key = deps.settings.secret_key.encode()
    return hmac.new(key, f"{label}\0{value}".encode(), hashlib.sha256).hexdigest()


def _enabled_property(session: Session, code: str) -> Property:
    prop = load_property(session, code)
    if not prop.email_verification:
        raise EmailVerificationDisabledError(f"property {code!r} does not offer email verification")
    return prop


def request_code(deps: Deps, req: CodeRequest) -> None:
    """Issue a code (older ones are burnt) and mail it; CooldownError within 60 s of the last."""
    email_hash = _digest(deps, "email", req.email)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    with deps.session() as session:
        prop = _enabled_property(session, req.property)
        now = deps.clock()
        last = session.scalar(
            select(EmailCode.created_at)
            .where(EmailCode.property_id == prop.id, EmailCode.email_hash == email_hash)
            .order_by(EmailCode.id.desc())
            .limit(1)
        )
        if last is not None:
            elapsed = (now - last).total_seconds()
            if elapsed < RESEND_COOLDOWN_SECONDS:
                raise CooldownError(max(1, int(RESEND_COOLDOWN_SECONDS - elapsed + 0.999)))
        session.execute(
            update(EmailCode)
            .where(
                EmailCode.property_id == prop.id,
                EmailCode.email_hash == email_hash,
                EmailCode.consumed_at.is_(None),
            )
            .values(consumed_at=now)
        )
        row = EmailCode(
            property_id=prop.id,
            email_hash=email_hash,
            code_hash=_digest(deps, "code", f"{email_hash}:{code}"),
            created_at=now,
            expires_at=now + timedelta(seconds=CODE_TTL_SECONDS),
            attempts=0,
        )
        session.add(row)
        session.flush()
        code_id = row.id
        language = choose_language(req.language, prop.languages or [])
        prop_code, prop_name = prop.code, prop.name
    body = text(language, "mail_code_body").format(code=code, minutes=CODE_TTL_SECONDS // 60)
    send_mail(
        deps,
        to=req.email,
        subject=f"{text(language, 'mail_code_subject')} — {prop_name}",
        body=body,
        purpose="email_code",
        meta={"property": prop_code, "email_code_id": code_id},
    )
    log.info("email code issued", extra={"email_code_id": code_id, "property": prop_code})


def verify_code(deps: Deps, req: VerifyRequest) -> SessionGrant:
    """A right code yields a 15-minute widget session token; each wrong one costs a try."""
    email_hash = _digest(deps, "email", req.email)
    rejected: CodeRejectedError | None = None
    with deps.session() as session:
        prop = _enabled_property(session, req.property)
        now = deps.clock()
        row = session.scalar(
            select(EmailCode)
            .where(EmailCode.property_id == prop.id, EmailCode.email_hash == email_hash)
            .order_by(EmailCode.id.desc())
            .limit(1)
            .with_for_update()
        )
        if row is None or row.consumed_at is not None or row.attempts >= MAX_TRIES:
            rejected = CodeRejectedError("code_invalid", "no valid code: request a new one", 0)
        elif row.expires_at <= now:
            row.consumed_at = now
            rejected = CodeRejectedError(
                "code_expired", "the code has expired: request a new one", 0
            )
        elif hmac.compare_digest(row.code_hash, _digest(deps, "code", f"{email_hash}:{req.code}")):
            row.consumed_at = now
        else:
            row.attempts += 1
            left = MAX_TRIES - row.attempts
            if left <= 0:
                row.consumed_at = now  # burnt
            rejected = CodeRejectedError(
                "code_invalid",
                f"wrong code; {left} tries left" if left else "wrong code; request a new one",
                left,
            )
        code_id = row.id if row else None
    # Raised after commit: a wrong try must be counted even though the call fails.
    if rejected is not None:
        log.info("email code rejected", extra={"email_code_id": code_id, "reason": rejected.code})
        raise rejected
    token = mint_session_token(deps, req.property, req.email, int(deps.clock().timestamp()))
    return SessionGrant(session_token=token, expires_in=SESSION_TTL_SECONDS)
