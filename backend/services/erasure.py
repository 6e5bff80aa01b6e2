"""Erasure requests: delete the person in Braze, then everything personal Optline holds, and
leave only keyed-hash suppression records.

Braze first (``/users/delete``, braze_api.md §3: one kind of identifier and at most 50 per call;
connections already done are remembered, so a retried job does not repeat them), because a
sandbox connection records its requests in the database and those records are scrubbed below.
Then, in one transaction: rights-request links and access documents, outbox rows, preferences,
email codes, mail to the address, import row states, profiles (with their memberships and export
state), the subjects themselves, and finally every remaining text or JSON value that names the
person (sandbox request log, audit details, run previews and errors, …) is redacted.

The consent ledger is kept: it names subjects only by their pseudonymous ``subject_key``, and
with the subject row gone nothing maps that key back to a person, so the hash chain still
verifies. Columns that name *other* people by a shared address (``subjects.email``,
``profiles.email``, ``outbox_entries.identifier``) are left alone.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    String,
    Table,
    Text,
    cast,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from backend.db.models import (
    Base,
    EmailCode,
    ExportProfileState,
    ImportRowState,
    MailMessage,
    OutboxEntry,
    Preference,
    Profile,
    RightsExport,
    RightsRequest,
    SegmentMember,
    Subject,
)
from backend.domain import rights as rules
from backend.services import braze_calls
from backend.services import rights as rights_service
from backend.services.data_export import ALIAS_LABEL, Person, find_person, person_requests
from backend.services.deps import Deps
from backend.services.email_codes import _digest as email_code_digest
from backend.services.suppressions import suppress

log = logging.getLogger(__name__)

REDACTED = "[erased]"
# Never rewritten: the ledger (hash-chained, pseudonymous), suppression and secrets, and the
# configuration an admin wrote.
KEEP_TABLES = frozenset(
    {
        "ledger_entries",
        "ledger_head",
        "suppressions",
        "installation_secrets",
        "alembic_version",
        "admin_users",
        "api_tokens",
        "braze_connections",
        "properties",
        "signing_keys",
        "subscriptions",
        "subscription_channels",
        "segments",
        "sync_connections",
        "import_goals",
        "export_goals",
    }
)
# Identity columns of other people who share an address with the erased person.
KEEP_COLUMNS = frozenset(
    {("subjects", "email"), ("profiles", "email"), ("outbox_entries", "identifier")}
)
# Characters that continue an identifier: a match must not be part of a longer one.
_WORD = r"A-Za-z0-9_@+\-"


def run_erasure(deps: Deps, claimed: rights_service.Claimed) -> None:
    with deps.session() as session:
        person = find_person(session, claimed)
    done = [int(i) for i in claimed.progress.get("braze_done", [])]
    for connection_id in braze_calls.connection_ids(deps):
        if connection_id in done:
            continue
        with braze_calls.open_link(deps, connection_id) as link:
            _delete_in_braze(deps, link, person, trusted=claimed.source != "widget")
        done.append(connection_id)
        rights_service.touch(deps, claimed.id, braze_done=done)
    with deps.session() as session:
        erase_locally(deps, session, person, claimed.id)


def _delete_in_braze(
    deps: Deps, link: braze_calls.BrazeLink, person: Person, *, trusted: bool
) -> None:
    spec = rules.bucket(rules.IDENTITY_LIMIT, link.share)
    client = link.client
    if person.external_id:
        ids = [person.external_id]
        braze_calls.call(
            deps, link, "users_delete", spec, lambda: client.users_delete(external_ids=ids)
        )
    for chunk in rules.chunked(
        [{"alias_name": a, "alias_label": ALIAS_LABEL} for a in person.aliases]
    ):
        aliases = list(chunk)
        braze_calls.call(
            deps, link, "users_delete", spec, partial(client.users_delete, user_aliases=aliases)
        )
    # By email only where the email is how Braze knows them (braze_api.md §3 "prioritization":
    # Braze deletes one profile per address). With an external id already deleted, or when the
    # request came from a visitor who proved only the address, just profiles without an external
    # id; an admin naming only the address may erase the identified profile that has it.
    if person.emails and (not person.external_id or link.identity == "email"):
        order = (
            ("most_recently_updated",)
            if trusted and not person.external_id
            else ("unidentified", "most_recently_updated")
        )
        for chunk in rules.chunked(list(person.emails)):
            emails = list(chunk)
            braze_calls.call(
                deps,
                link,
                "users_delete",
                spec,
                partial(client.users_delete, emails=emails, email_prioritization=order),
            )


def erase_locally(deps: Deps, session: Session, person: Person, request_id: int) -> None:
    """Everything personal, in the caller's transaction; the request ends completed."""
    subject_ids = list(person.subject_ids)
    external_ids = [person.external_id] if person.external_id else []
    emails = list(person.emails)
    profiles = _profiles(session, person)
    profile_ids = [p.id for p in profiles]
    braze_keys = {f"x:{x}" for x in external_ids} | {f"e:{e}" for e in emails}
    for profile in profiles:
        braze_id = (profile.identifiers or {}).get("braze_id")
        if isinstance(braze_id, str):
            braze_keys.add(f"b:{braze_id}")
    requests = person_requests(
        deps, session, external_ids=external_ids, emails=emails, subject_ids=subject_ids
    )
    request_ids = [r.id for r in requests] + [request_id]
    session.execute(delete(RightsExport).where(RightsExport.request_id.in_(request_ids)))
    for row in requests:
        row.subject_id = None
        row.external_id = row.email = None
        row.download_token_hash = row.download_token_encrypted = row.result_location = None
    outbox_match = [OutboxEntry.identifier.in_(external_ids)] if external_ids else []
    if subject_ids:
        outbox_match.append(OutboxEntry.subject_id.in_(subject_ids))
        session.execute(delete(Preference).where(Preference.subject_id.in_(subject_ids)))
    if outbox_match:
        session.execute(delete(OutboxEntry).where(or_(*outbox_match)))
    if emails:
        hashes = [email_code_digest(deps, "email", e) for e in emails]
        session.execute(delete(EmailCode).where(EmailCode.email_hash.in_(hashes)))
        session.execute(delete(MailMessage).where(func.lower(MailMessage.to_address).in_(emails)))
    session.execute(delete(ImportRowState).where(ImportRowState.braze_key.in_(sorted(braze_keys))))
    if profile_ids:
        session.execute(delete(SegmentMember).where(SegmentMember.profile_id.in_(profile_ids)))
        session.execute(
            delete(ExportProfileState).where(ExportProfileState.profile_id.in_(profile_ids))
        )
        session.execute(delete(Profile).where(Profile.id.in_(profile_ids)))
    if subject_ids:
        session.execute(delete(Subject).where(Subject.id.in_(subject_ids)))
    suppress(deps, session, external_ids=external_ids, emails=emails, reason="erasure")
    session.flush()
    redacted = scrub(session, [*external_ids, *emails, *person.aliases])
    now = deps.clock()
    session.execute(
        update(RightsRequest)
        .where(RightsRequest.id == request_id)
        .values(
            status="completed",
            error=None,
            updated_at=now,
            completed_at=now,
            external_id=None,
            email=None,
            subject_id=None,
        )
    )
    log.info(
        "erased",
        extra={
            "request_id": request_id,
            "subjects": len(subject_ids),
            "profiles": len(profile_ids),
            "redacted": redacted,
        },
    )


def _profiles(session: Session, person: Person) -> list[Profile]:
    conditions = []
    if person.external_id:
        conditions.append(Profile.external_id == person.external_id)
    if person.emails:
        # Profiles with the address and no other external id: someone else's stay.
        same: ColumnElement[bool] = Profile.external_id.is_(None)
        if person.external_id:
            same = or_(same, Profile.external_id == person.external_id)
        conditions.append(Profile.email.in_(person.emails) & same)
    if not conditions:
        return []
    return list(session.scalars(select(Profile).where(or_(*conditions))))


# -- redaction of whatever else names the person --------------------------------------------


def _pattern(needle: str) -> re.Pattern[str]:
    flags = re.IGNORECASE if "@" in needle else 0
    # A dot continues an identifier only when more of it follows ("a@b.co.uk"), not at the end
    # of a sentence.
    before, after = rf"(?<![{_WORD}.])", rf"(?![{_WORD}])(?!\.[{_WORD}])"
    return re.compile(before + re.escape(needle) + after, flags)


def _like(needle: str) -> list[str]:
    forms = {needle, json.dumps(needle)[1:-1]}
    out = []
    for form in forms:
        escaped = form.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        out.append(f"%{escaped}%")
    return out


def redact_value(value: Any, patterns: Sequence[re.Pattern[str]]) -> Any:
    """``value`` with every whole-token occurrence of the patterns replaced, at any depth."""
    if isinstance(value, str):
        for pattern in patterns:
            value = pattern.sub(REDACTED, value)
        return value
    if isinstance(value, list):
        return [redact_value(v, patterns) for v in value]
    if isinstance(value, dict):
        return {redact_value(k, patterns): redact_value(v, patterns) for k, v in value.items()}
    return value


def _text_columns(table: Table) -> Iterable[Any]:
    for column in table.columns:
        if (table.name, column.name) in KEEP_COLUMNS or column.primary_key:
            continue
        if isinstance(column.type, String | Text | JSON):
            yield column


def scrub(session: Session, needles: Sequence[str]) -> int:
    """Redact the needles from every text and JSON column outside KEEP_TABLES; returns how many
    values changed. A LIKE narrows the rows (the raw and the JSON-escaped spelling); the regex
    decides, so "user-1" never touches "user-10"."""
    needles = sorted({n for n in needles if n and n.strip()})
    if not needles:
        return 0
    patterns = [_pattern(n) for n in needles]
    likes = [form for n in needles for form in _like(n)]
    changed = 0
    for table in Base.metadata.sorted_tables:
        if table.name in KEEP_TABLES:
            continue
        keys = list(table.primary_key.columns)
        for column in _text_columns(table):
            text = cast(column, Text) if isinstance(column.type, JSON) else column
            match = or_(*(text.ilike(form, escape="\\") for form in likes))
            for row in session.execute(select(*keys, column).where(match)).all():
                value = row[-1]
                new = redact_value(value, patterns)
                if new != value:
                    where = [k == v for k, v in zip(keys, row[:-1], strict=True)]
                    session.execute(update(table).where(*where).values({column.name: new}))
                    changed += 1
    return changed
