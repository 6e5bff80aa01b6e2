"""Find-or-create profiles by identifiers and set their properties, a batch at a time.

One query per identifier kind per batch, in-memory matching over plain records, then one
multi-row INSERT … RETURNING and one executemany UPDATE: a batch of 1,000 costs a handful of
statements, so imports run at tens of thousands of profiles a second.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db.models import Profile
from backend.domain.profiles import ProfileInput, apply_properties
from backend.services.deps import Deps
from backend.services.segments import SegmentDef, refresh_profiles
from backend.services.suppressions import suppression_check

log = logging.getLogger(__name__)
PROFILES = cast(Table, Profile.__table__)
CHUNK = 1000
COLUMNS = (Profile.id, Profile.profile_key, Profile.external_id, Profile.email,
           Profile.identifiers, Profile.properties, Profile.version)  # fmt: skip


@dataclass(frozen=True)
class ItemResult:
    status: str  # created | updated | unchanged | skipped | failed
    profile_key: str | None = None
    error: str | None = None


@dataclass(eq=False)
class _Record:
    """A profile as the batch sees it; also what ``refresh_profiles`` reads and bumps."""

    id: int
    profile_key: str
    external_id: str | None
    email: str | None
    identifiers: dict[str, Any]
    properties: dict[str, Any]
    version: int
    updated_at: datetime | None = None
    new: bool = False
    dirty: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class _Index:
    """The batch's profiles by identifier, including ones created earlier in the batch."""

    def __init__(self) -> None:
        self.by_external_id: dict[str, _Record] = {}
        self.by_email: dict[str, list[_Record]] = {}

    def add(self, record: _Record) -> None:
        if record.external_id is not None:
            self.by_external_id[record.external_id] = record
        if record.email is not None:
            self.by_email.setdefault(record.email, []).append(record)

    def move_email(self, record: _Record, old: str | None) -> None:
        if old is not None and record in self.by_email.get(old, []):
            self.by_email[old].remove(record)
        if record.email is not None:
            self.by_email.setdefault(record.email, []).append(record)


def _record(row: Any) -> _Record:
    # The dicts are never mutated in place (changes build new ones), so no copies.
    return _Record(
        row.id,
        row.profile_key,
        row.external_id,
        row.email,
        row.identifiers or {},
        row.properties or {},
        row.version or 1,
    )


def _prefetch(session: Session, items: Sequence[ProfileInput]) -> _Index:
    index = _Index()
    external_ids = sorted({i.external_id for i in items if i.external_id})
    emails = sorted({i.email for i in items if i.email})
    for start in range(0, len(external_ids), CHUNK):
        chunk = external_ids[start : start + CHUNK]
        for row in session.execute(select(*COLUMNS).where(Profile.external_id.in_(chunk))):
            index.add(_record(row))
    for start in range(0, len(emails), CHUNK):
        chunk = emails[start : start + CHUNK]
        query = select(*COLUMNS).where(Profile.email.in_(chunk)).order_by(Profile.id)
        for row in session.execute(query):
            if row.external_id is None or row.external_id not in index.by_external_id:
                index.add(_record(row))
    return index


def _by_other_identifiers(session: Session, identifiers: dict[str, str]) -> _Record | None:
    for name, value in sorted(identifiers.items()):
        row = session.execute(
            select(*COLUMNS)
            .where(Profile.identifiers[name].as_string() == value)
            .order_by(Profile.id)
            .limit(1)
        ).first()
        if row is not None:
            return _record(row)
    return None


def _find(session: Session, index: _Index, item: ProfileInput) -> _Record | None:
    if item.external_id is not None:
        found = index.by_external_id.get(item.external_id)
        if found is not None:
            return found
    if item.email is not None:
        for candidate in index.by_email.get(item.email, []):
            # An email never joins a profile that belongs to another external id.
            if item.external_id is None or candidate.external_id is None:
                return candidate
    if item.identifiers and item.external_id is None and item.email is None:
        found = _by_other_identifiers(session, item.identifiers)
        if found is not None:
            index.add(found)
        return found
    return None


def _apply(record: _Record, index: _Index, item: ProfileInput) -> bool:
    """Set identifiers and properties on a matched profile; True when anything changed."""
    changed = False
    if item.external_id is not None and record.external_id != item.external_id:
        record.external_id = item.external_id
        index.by_external_id[item.external_id] = record
        changed = True
    if item.email is not None and record.email != item.email:
        old, record.email = record.email, item.email
        index.move_email(record, old)
        changed = True
    if item.identifiers:
        merged = {**record.identifiers, **item.identifiers}
        if merged != record.identifiers:
            record.identifiers = merged
            changed = True
    properties = apply_properties(record.properties, item.properties)
    if properties is not None:
        record.properties = properties
        changed = True
    return changed


def upsert_batch(
    session: Session,
    items: Sequence[ProfileInput],
    *,
    now: datetime,
    defs: dict[str, SegmentDef] | None = None,
    suppressed: Callable[[str | None, str | None], bool] | None = None,
) -> list[ItemResult]:
    """Find or create each profile and apply its changes, in order, in the caller's transaction.

    ``suppressed(external_id, email)`` keeps people who asked for erasure from being created again.

    A profile gets ``version + 1`` and ``updated_at = now`` only when something changed (once
    per batch), and its segment memberships are refreshed in the same transaction.
    """
    index = _prefetch(session, items)
    results: list[ItemResult] = []
    created: list[_Record] = []
    updated: list[_Record] = []
    for item in items:
        record = _find(session, index, item)
        if record is None and suppressed is not None and suppressed(item.external_id, item.email):
            results.append(ItemResult("skipped", error="suppressed: this person's data was erased"))
            continue
        if record is None:
            record = _Record(
                0,
                str(uuid.uuid4()),
                item.external_id,
                item.email,
                dict(item.identifiers),
                apply_properties({}, item.properties) or {},
                1,
                now,
                new=True,
            )
            index.add(record)
            created.append(record)
            results.append(ItemResult("created", record.profile_key))
        elif _apply(record, index, item):
            if not record.new and not record.dirty:
                record.dirty = True
                updated.append(record)
            results.append(ItemResult("updated", record.profile_key))
        else:
            results.append(ItemResult("unchanged", record.profile_key))
    _insert(session, created, now)
    if not created and not updated:
        return results
    # Memberships follow the new properties; refresh_profiles bumps the versions it changes.
    moved = refresh_profiles(session, [*created, *updated], now=now, defs=defs)
    for record in updated:
        if record.id not in moved:
            record.version += 1
            record.updated_at = now
    if updated:
        # Core executemany on the table: the ORM's bulk layer costs more than the statement.
        table = PROFILES
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                external_id=bindparam("b_external_id"),
                email=bindparam("b_email"),
                identifiers=bindparam("b_identifiers", type_=table.c.identifiers.type),
                properties=bindparam("b_properties", type_=table.c.properties.type),
                version=bindparam("b_version"),
                updated_at=bindparam("b_updated_at", type_=table.c.updated_at.type),
            )
        )
        session.execute(
            statement,
            [
                {
                    "b_id": r.id,
                    "b_external_id": r.external_id,
                    "b_email": r.email,
                    "b_identifiers": r.identifiers,
                    "b_properties": r.properties,
                    "b_version": r.version,
                    "b_updated_at": now,
                }
                for r in updated
            ],
        )
    return results


def _insert(session: Session, created: list[_Record], now: datetime) -> None:
    """New profiles start at version 1, memberships included."""
    if not created:
        return
    rows: list[dict[str, Any]] = [
        {
            "profile_key": r.profile_key,
            "external_id": r.external_id,
            "email": r.email,
            "identifiers": r.identifiers,
            "properties": r.properties,
            "interactions": [],
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for r in created
    ]
    # A plain executemany, then the ids by profile_key: SQLite cannot order a multi-row
    # INSERT … RETURNING, so SQLAlchemy would fall back to one statement per row.
    session.execute(insert(PROFILES), rows)
    by_key = {r.profile_key: r for r in created}
    keys = list(by_key)
    for start in range(0, len(keys), CHUNK):
        query = select(Profile.profile_key, Profile.id).where(
            Profile.profile_key.in_(keys[start : start + CHUNK])
        )
        for key, new_id in session.execute(query):
            by_key[key].id = new_id


def upsert_profiles(deps: Deps, items: Sequence[ProfileInput]) -> list[ItemResult]:
    """One transaction for the batch; if a concurrent writer took an identifier, item by item."""
    try:
        with deps.session() as session:
            check = suppression_check(deps, session)
            return upsert_batch(session, items, now=deps.clock(), suppressed=check)
    except IntegrityError:
        log.warning("profile batch clashed with a concurrent writer; retrying item by item")
    results = []
    for item in items:
        try:
            with deps.session() as session:
                check = suppression_check(deps, session)
                results.extend(upsert_batch(session, [item], now=deps.clock(), suppressed=check))
        except IntegrityError:
            results.append(ItemResult("failed", error="identifiers: taken by a concurrent write"))
    return results
