"""Access requests: gather what Braze and Optline hold about a person into one JSON document,
store it behind an expiring link (a random token, stored hashed and encrypted), and mail the
link where an email is known.

Braze's side comes from ``/users/export/ids`` on every Braze connection (braze_api.md §5; 250
requests a minute, spent through the workspace's token bucket). Optline's side: the subjects'
identifiers, current preferences, every ledger entry of their pseudonymous keys, profiles from
the profile store, and the person's rights requests.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.db.models import LedgerEntry, RightsExport, RightsRequest, Subject
from backend.domain import rights as rules
from backend.domain.suppression import digests
from backend.services import braze_calls, profiles
from backend.services import rights as rights_service
from backend.services.catalogue import current_choices, load_topics
from backend.services.deps import Deps
from backend.services.mailer import send_mail
from backend.services.suppressions import salt

log = logging.getLogger(__name__)
ALIAS_LABEL = "optline_email"


@dataclass(frozen=True)
class Person:
    """Everything that names the person of a request."""

    external_id: str | None
    emails: tuple[str, ...]
    aliases: tuple[str, ...]
    subject_ids: tuple[int, ...]
    subject_keys: tuple[str, ...]

    @property
    def email(self) -> str | None:
        return self.emails[0] if self.emails else None


def find_person(session: Session, claimed: rights_service.Claimed) -> Person:
    """The request's subject, the subject with its external id, and every subject that has one
    of their emails and no external id of its own (the same person, proven by email code)."""
    conditions = []
    if claimed.subject_id is not None:
        conditions.append(Subject.id == claimed.subject_id)
    if claimed.external_id:
        conditions.append(Subject.external_id == claimed.external_id)
    subjects = list(session.scalars(select(Subject).where(or_(*conditions)))) if conditions else []
    external_id = claimed.external_id or next(
        (s.external_id for s in subjects if s.external_id), None
    )
    emails = _unique([claimed.email, *(s.email for s in subjects)])
    if emails:
        known = {s.id for s in subjects}
        subjects += [
            s
            for s in session.scalars(
                select(Subject).where(Subject.email.in_(emails), Subject.external_id.is_(None))
            )
            if s.id not in known
        ]
    return Person(
        external_id=external_id,
        emails=tuple(emails),
        aliases=tuple(_unique(s.braze_alias for s in subjects)),
        subject_ids=tuple(s.id for s in subjects),
        subject_keys=tuple(s.subject_key for s in subjects),
    )


def _unique(values: Iterable[str | None]) -> list[str]:
    out: list[str] = []
    for value in values:
        if value and value not in out:
            out.append(value)
    return out


def run_access(deps: Deps, claimed: rights_service.Claimed) -> None:
    with deps.session() as session:
        person = find_person(session, claimed)
    braze = {}
    for connection_id in braze_calls.connection_ids(deps):
        with braze_calls.open_link(deps, connection_id) as link:
            braze[link.code] = {"users": _braze_users(deps, link, person)}
        rights_service.touch(deps, claimed.id)
    document = _document(deps, claimed, person, braze)
    token = secrets.token_urlsafe(32)
    now = deps.clock()
    expires = rights_service.expires_after(now)
    with deps.session() as session:
        row = session.get(RightsRequest, claimed.id)
        if row is None:
            return
        export = RightsExport(request_id=row.id, document=document, created_at=now)
        session.add(export)
        session.flush()
        row.download_token_hash = rules.token_hash(token)
        row.download_token_encrypted = deps.secrets.encrypt(token)
        row.download_expires_at = expires
        row.result_location = f"db:rights_exports/{export.id}"
        row.status, row.error = "completed", None
        row.updated_at = row.completed_at = now
        row.external_id = row.email = None  # the document holds them now, for seven days
    if person.email:
        subject, body = rules.access_mail(rights_service.download_url(deps, token), expires)
        send_mail(
            deps,
            to=person.email,
            subject=subject,
            body=body,
            purpose="rights_access",
            meta={"rights_request": claimed.public_id},
        )


def _braze_users(deps: Deps, link: braze_calls.BrazeLink, person: Person) -> list[dict[str, Any]]:
    """One call: by external id and aliases together (≤ 50), else by email."""
    spec = rules.bucket(rules.EXPORT_IDS_LIMIT, link.share)
    fields = rules.ACCESS_EXPORT_FIELDS
    client = link.client
    ids = [person.external_id] if person.external_id else []
    aliases = [{"alias_name": a, "alias_label": ALIAS_LABEL} for a in person.aliases][:49]
    if ids or aliases:
        send = partial(
            client.users_export_ids,
            external_ids=ids or None,
            user_aliases=aliases or None,
            fields_to_export=fields,
        )
    elif person.email:
        send = partial(client.users_export_ids, email=person.email, fields_to_export=fields)
    else:
        return []
    users = braze_calls.call(deps, link, "users_export_ids", spec, send)
    return list({str(u.get("braze_id", i)): u for i, u in enumerate(users)}.values())


def _document(
    deps: Deps, claimed: rights_service.Claimed, person: Person, braze: dict[str, Any]
) -> dict[str, Any]:
    with deps.session() as session:
        topics = load_topics(session, None)
        preferences = []
        for subject_id in person.subject_ids:
            for (code, channel), pref in current_choices(session, subject_id, topics).items():
                preferences.append(
                    {
                        "subscription": code,
                        "channel": channel,
                        "state": pref.state,
                        "source": pref.source,
                        "updated_at": pref.updated_at.isoformat(),
                        "sync_status": pref.sync_status,
                    }
                )
        ledger = _ledger(session, person.subject_keys)
        requests = _requests(deps, session, person)
        identifiers = {
            "external_id": person.external_id,
            "emails": list(person.emails),
            "braze_aliases": [
                {"alias_label": ALIAS_LABEL, "alias_name": a} for a in person.aliases
            ],
            "pseudonymous_keys": list(person.subject_keys),
        }
    found: dict[str, dict[str, Any]] = {}
    if person.external_id:
        for p in profiles.find_profiles(deps, external_id=person.external_id):
            found[p["id"]] = p
    for email in person.emails:
        for p in profiles.find_profiles(deps, email=email):
            found[p["id"]] = p
    return rules.access_document(
        request={"id": claimed.public_id, "type": claimed.type, "source": claimed.source},
        generated_at=deps.clock(),
        identifiers=identifiers,
        preferences=preferences,
        ledger=ledger,
        profiles=list(found.values()),
        rights_requests=requests,
        braze=braze,
    )


def _ledger(session: Session, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    if not keys:
        return []
    rows = session.scalars(
        select(LedgerEntry).where(LedgerEntry.subject_key.in_(keys)).order_by(LedgerEntry.id.desc())
    )
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "subscription": e.subscription,
            "channel": e.channel,
            "state": e.state,
            "source": e.source,
            "proof": e.proof,
            "property": e.property,
            "origin": e.origin,
            "language": e.language,
            "notice_version": e.text_version,
            "user_agent": e.user_agent,
            "hash": e.hash,
        }
        for e in rows
    ]


def person_requests(
    deps: Deps, session: Session, *, external_ids: Iterable[str], emails: Iterable[str],
    subject_ids: Iterable[int],
) -> list[RightsRequest]:  # fmt: skip
    """Every rights request naming the person: by subject, or by the keyed hash of any of
    their identifiers."""
    hashes = [d for _, d in digests(salt(deps, session), external_ids=external_ids, emails=emails)]
    conditions = []
    if hashes:
        conditions.append(RightsRequest.requester_hash.in_(hashes))
    ids = list(subject_ids)
    if ids:
        conditions.append(RightsRequest.subject_id.in_(ids))
    if not conditions:
        return []
    return list(session.scalars(select(RightsRequest).where(or_(*conditions))))


def _requests(deps: Deps, session: Session, person: Person) -> list[dict[str, Any]]:
    rows = person_requests(
        deps,
        session,
        external_ids=[person.external_id] if person.external_id else [],
        emails=person.emails,
        subject_ids=person.subject_ids,
    )
    return [
        {
            "id": r.public_id,
            "type": r.type,
            "status": r.status,
            "source": r.source,
            "created_at": r.created_at.isoformat(),
        }
        for r in sorted(rows, key=lambda r: r.id)
    ]
