"""Loading what a property shows (topics × channels) and the subjects who choose."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from backend.db.models import BrazeConnection, Preference, Property, Subject, Subscription
from backend.domain.errors import NotFoundError
from backend.domain.identity import VisitorIdentity
from backend.domain.preferences import ChannelSpec, Current, TopicSpec
from backend.services.bulk_rows import attach_written


@dataclass(frozen=True)
class ConnectionInfo:
    id: int
    identity: str  # external_id | email


def load_property(session: Session, code: str) -> Property:
    prop = session.scalar(select(Property).where(Property.code == code))
    if prop is None:
        raise NotFoundError(f"property {code!r} does not exist")
    return prop


def load_topics(session: Session, prop: Property | None) -> list[TopicSpec]:
    """The topics a property shows (all of them for ``None``: the admin's view), in order."""
    query = (
        select(Subscription)
        .options(selectinload(Subscription.channels))
        .order_by(Subscription.position, Subscription.code)
    )
    if prop is not None and prop.subscriptions is not None:
        if not prop.subscriptions:
            return []
        query = query.where(Subscription.code.in_(prop.subscriptions))
    topics: list[TopicSpec] = []
    for sub in session.scalars(query):
        topics.append(
            TopicSpec(
                id=sub.id,
                code=sub.code,
                name=dict(sub.name or {}),
                description=dict(sub.description or {}),
                text_version=sub.text_version,
                channels=tuple(
                    ChannelSpec(c.channel, c.connection_id, c.subscription_group_id)
                    for c in sub.channels
                ),
            )
        )
    return topics


def load_connections(session: Session, topics: Sequence[TopicSpec]) -> dict[int, ConnectionInfo]:
    ids = {c.connection_id for t in topics for c in t.channels}
    if not ids:
        return {}
    rows = session.execute(
        select(BrazeConnection.id, BrazeConnection.identity).where(BrazeConnection.id.in_(ids))
    )
    return {row.id: ConnectionInfo(row.id, row.identity) for row in rows}


def find_subject(session: Session, identity: VisitorIdentity, *, lock: bool) -> Subject | None:
    """A token's subject by external id; an email-code visitor's by email alone."""
    if identity.external_id is not None:
        query = select(Subject).where(Subject.external_id == identity.external_id)
    elif identity.email is not None:
        query = (
            select(Subject)
            .where(Subject.email == identity.email, Subject.external_id.is_(None))
            .order_by(Subject.id)
            .limit(1)
        )
    else:
        return None
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def find_or_create_subject(session: Session, identity: VisitorIdentity, now: datetime) -> Subject:
    """The subject, locked for this transaction; its email refreshed from the token."""
    subject = find_subject(session, identity, lock=True)
    if subject is None:
        subject, _ = create_subject(session, identity, now)
    else:
        refresh_email(subject, identity)
    return subject


_SUBJECTS = cast(Table, Subject.__table__)


def _new_subject(identity: VisitorIdentity, now: datetime) -> Subject:
    return Subject(
        subject_key=str(uuid.uuid4()),
        external_id=identity.external_id,
        email=identity.email,
        created_at=now,
        last_seen_at=now,
    )


def create_subjects(
    session: Session, identities: Sequence[VisitorIdentity], now: datetime
) -> list[tuple[Subject, bool]]:
    """``create_subject`` for several people at once, in one statement where the database can
    skip the ones another request created first (``ON CONFLICT DO NOTHING``): those come back
    as (theirs, False)."""
    dialect = session.get_bind().dialect.name
    if not identities or dialect not in ("postgresql", "sqlite"):
        return [create_subject(session, identity, now) for identity in identities]
    rows = [
        {
            "subject_key": str(uuid.uuid4()),
            "external_id": identity.external_id,
            "email": identity.email,
            "created_at": now,
            "last_seen_at": now,
        }
        for identity in identities
    ]
    # Core, not the unit of work (every new visitor's first save runs this under the write
    # lock); the people created are then added to the session as their rows are.
    insert = pg_insert(_SUBJECTS) if dialect == "postgresql" else sqlite_insert(_SUBJECTS)
    statement = insert.on_conflict_do_nothing(index_elements=[_SUBJECTS.c.external_id]).returning(
        *_SUBJECTS.c
    )
    created: dict[str, Subject] = {}
    for values in session.connection().execute(statement, rows).mappings():
        new = attach_written(session, Subject(**values))
        created[new.subject_key] = new
    out: list[tuple[Subject, bool]] = []
    for identity, row in zip(identities, rows, strict=True):
        subject = created.get(str(row["subject_key"]))
        if subject is not None:
            out.append((subject, True))
            continue
        # Another request created the same external id first: use theirs.
        found = find_subject(session, identity, lock=True)
        if found is None:
            raise RuntimeError(f"subject for {identity.external_id!r} neither created nor found")
        out.append((found, False))
    return out


def create_subject(
    session: Session, identity: VisitorIdentity, now: datetime
) -> tuple[Subject, bool]:
    """A new subject for someone ``find_subject`` did not find; (theirs, False) when another
    request created the same external id first."""
    try:
        with session.begin_nested():
            subject = _new_subject(identity, now)
            session.add(subject)
        return subject, True
    except IntegrityError:
        # Another request created the same external id first: use theirs.
        found = find_subject(session, identity, lock=True)
        if found is None:
            raise
        return found, False


def refresh_email(subject: Subject, identity: VisitorIdentity) -> None:
    if identity.email and subject.email != identity.email:
        subject.email = identity.email


def subjects_named(
    session: Session, *, external_id: str | None = None, email: str | None = None
) -> list[Subject]:
    """Admin look-up: the subject with that external id, or every subject with that email."""
    if external_id:
        return list(session.scalars(select(Subject).where(Subject.external_id == external_id)))
    if email:
        return list(
            session.scalars(
                select(Subject).where(Subject.email == email.strip().lower()).order_by(Subject.id)
            )
        )
    return []


def current_choices(
    session: Session, subject_id: int | None, topics: Sequence[TopicSpec]
) -> dict[tuple[str, str], Preference]:
    """The subject's preference rows for these topics, keyed by (topic code, channel)."""
    if subject_id is None or not topics:
        return {}
    code_of = {t.id: t.code for t in topics}
    rows = session.scalars(
        select(Preference).where(
            Preference.subject_id == subject_id, Preference.subscription_id.in_(code_of)
        )
    )
    return {(code_of[p.subscription_id], p.channel): p for p in rows}


def as_current(rows: dict[tuple[str, str], Preference]) -> dict[tuple[str, str], Current]:
    return {key: Current(p.state, p.sync_status) for key, p in rows.items()}


def normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origins_by_property(session: Session) -> dict[str, frozenset[str]]:
    """Every property's allowed origins, normalised, for the widget API's CORS checks."""
    return {
        code: frozenset(normalise_origin(o) for o in origins or [] if isinstance(o, str))
        for code, origins in session.execute(select(Property.code, Property.allowed_origins))
    }
