"""Admin actions on Braze's global email state: blocklist addresses (``/email/blocklist``) and
set their subscription state (``/email/status``), 50 addresses a call (braze_api.md §7.2, §7.3).

Each call that Braze accepted is audited (by count and keyed hashes, never the addresses), and
every subject with one of the addresses gets a ledger entry (subscription "*", channel "email",
source "admin") and its recorded global state, so a later opt-in in the widget restores the
global state in Braze. If Braze refuses a chunk, what went before is still recorded, then the
error is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select

from backend.db.models import Subject
from backend.domain import rights as rules
from backend.domain.email_codes import normalise_email
from backend.domain.errors import FieldError, IntegrationError, ValidationError
from backend.domain.ledger import LedgerRecord
from backend.domain.preferences import ALL_TOPICS
from backend.domain.suppression import digests
from backend.services import braze_calls
from backend.services.audit import record_change
from backend.services.deps import Deps
from backend.services.ledger import append_entries
from backend.services.suppressions import salt

log = logging.getLogger(__name__)

MAX_EMAILS = 1000
STATES = ("subscribed", "unsubscribed", "opted_in")
# The ledger knows subscribed/unsubscribed; Braze's "opted_in" is a stronger "subscribed".
LEDGER_STATE = {
    "subscribed": "subscribed",
    "unsubscribed": "unsubscribed",
    "opted_in": "subscribed",
}


@dataclass(frozen=True)
class EmailAction:
    connection: str
    emails: tuple[str, ...]
    state: str  # the global state that results


def parse_action(body: Any, *, with_state: bool) -> EmailAction:
    """``{"connection", "emails": [...]}`` (+ ``"state"`` for /email/status); all or nothing."""
    if not isinstance(body, Mapping):
        raise ValidationError("body: must be a JSON object")
    allowed = {"connection", "emails", "state"} if with_state else {"connection", "emails"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError(FieldError(unknown[0], f"unknown key; expected {sorted(allowed)}"))
    connection = body.get("connection")
    if not isinstance(connection, str) or not connection.strip():
        raise ValidationError(FieldError("connection", "the code of a Braze connection"))
    raw = body.get("emails")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_EMAILS:
        raise ValidationError(FieldError("emails", f"an array of 1 to {MAX_EMAILS} addresses"))
    errors: list[FieldError] = []
    emails: list[str] = []
    for index, value in enumerate(raw):
        try:
            email = normalise_email(value, f"emails[{index}]")
        except ValidationError as exc:
            errors.extend(exc.errors)
            continue
        if email not in emails:
            emails.append(email)
    state = body.get("state") if with_state else "unsubscribed"
    if state not in STATES:
        errors.append(FieldError("state", "must be 'subscribed', 'unsubscribed' or 'opted_in'"))
    if errors:
        raise ValidationError(errors)
    return EmailAction(connection.strip(), tuple(emails), str(state))


def blocklist(deps: Deps, action: EmailAction, *, actor: str) -> dict[str, Any]:
    """Unsubscribe and hard-bounce the addresses in Braze."""
    return _run(
        deps,
        action,
        actor=actor,
        verb="blocklist",
        send=lambda client, chunk: client.email_blocklist(chunk),
    )


def set_status(deps: Deps, action: EmailAction, *, actor: str) -> dict[str, Any]:
    """Set the addresses' global email subscription state in Braze."""
    return _run(
        deps,
        action,
        actor=actor,
        verb="email_status",
        send=lambda client, chunk: client.email_status(chunk, action.state),
    )


def _run(
    deps: Deps,
    action: EmailAction,
    *,
    actor: str,
    verb: str,
    send: Callable[[Any, list[str]], None],
) -> dict[str, Any]:
    connection_id, code = braze_calls.find_connection(deps, action.connection)
    done: list[str] = []
    calls = 0
    try:
        with braze_calls.open_link(deps, connection_id) as link:
            for chunk in rules.chunked(list(action.emails)):
                emails = list(chunk)
                braze_calls.call(deps, link, verb, None, partial(send, link.client, emails))
                calls += 1
                done.extend(emails)
    except IntegrationError:
        if done:
            _record(deps, code, done, action.state, actor=actor, verb=verb, partial=True)
        raise
    entries = _record(deps, code, done, action.state, actor=actor, verb=verb, partial=False)
    log.info("email state set in Braze", extra={"verb": verb, "count": len(done), "calls": calls})
    return {
        "connection": code,
        "state": action.state,
        "emails": len(done),
        "calls": calls,
        "ledger_entries": entries,
    }


def _record(
    deps: Deps,
    code: str,
    emails: Sequence[str],
    state: str,
    *,
    actor: str,
    verb: str,
    partial: bool,
) -> int:
    """Audit entry, and per subject with the address: a ledger entry and its global state."""
    with deps.session() as session:
        hashed = sorted(d[:16] for _, d in digests(salt(deps, session), emails=emails))
        record_change(
            session,
            actor=actor,
            action=verb,
            object_type="email_state",
            object_code=code,
            details={
                "state": state,
                "count": len(emails),
                "email_hashes": hashed,
                "partial": partial,
            },
        )
        subjects = list(
            session.scalars(
                select(Subject).where(Subject.email.in_(list(emails))).order_by(Subject.id)
            )
        )
        now = deps.clock()
        ledger_state = LEDGER_STATE[state]
        records = [
            LedgerRecord(
                at=now,
                subject_key=s.subject_key,
                subscription=ALL_TOPICS,
                channel="email",
                state=ledger_state,
                source="admin",
                proof=f"{actor}:{verb}"[:100],
            )
            for s in subjects
        ]
        append_entries(session, records)
        for subject in subjects:
            subject.global_states = {**(subject.global_states or {}), "email_subscribe": state}
        return len(records)
