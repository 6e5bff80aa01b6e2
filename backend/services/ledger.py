"""Appending to the consent ledger under one lock, and verifying its hash chain.

Appends lock the single ``LedgerHead`` row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite already
serialises writers with BEGIN IMMEDIATE), so the chain always has exactly one next link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.db.models import LedgerEntry, LedgerHead
from backend.domain.ledger import GENESIS_HASH, ChainReport, ChainVerifier, LedgerRecord, chain_hash
from backend.services.bulk_rows import insert_returning_ids
from backend.services.catalogue import subjects_named
from backend.services.deps import Deps

HEAD_ID = 1
VERIFY_BATCH = 2000
MAX_ENTRIES = 1000


_HEAD = cast(Table, LedgerHead.__table__)
_ENTRIES = cast(Table, LedgerEntry.__table__)
# Core statements on the session's connection: appends sit inside every save's transaction,
# where the ORM's per-statement bookkeeping would be most of their cost.
_SELECT_HEAD = select(_HEAD.c.last_hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
_UPDATE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(last_hash=bindparam("new_hash"), last_entry_id=bindparam("new_entry_id"))
)


def _locked_head_hash(session: Session) -> str:
    """The head's hash, the row created lazily with the genesis hash, locked for this
    transaction."""
    conn = session.connection()
    found = conn.execute(_SELECT_HEAD).scalar()
    if found is not None:
        return str(found)
    dialect = conn.dialect.name
    values = {"id": HEAD_ID, "last_entry_id": 0, "last_hash": GENESIS_HASH}
    if dialect == "postgresql":
        conn.execute(pg_insert(_HEAD).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        conn.execute(sqlite_insert(_HEAD).values(values).on_conflict_do_nothing())
    elif conn.execute(_SELECT_HEAD).scalar() is None:
        conn.execute(insert(_HEAD).values(values))
    found = conn.execute(_SELECT_HEAD).scalar()
    assert found is not None
    return str(found)


def append_entries(session: Session, records: Sequence[LedgerRecord]) -> list[int]:
    """Chain ``records`` after the head, in order, inside the caller's transaction; return the new
    entries' ids. The head stays locked until the caller commits, so callers append last."""
    if not records:
        return []
    prev = _locked_head_hash(session)
    rows: list[dict[str, object]] = []
    for record in records:
        digest = chain_hash(record, prev)
        rows.append(
            {
                "at": record.at,
                "subject_key": record.subject_key,
                "subscription": record.subscription,
                "channel": record.channel,
                "state": record.state,
                "source": record.source,
                "proof": record.proof,
                "property": record.property,
                "origin": record.origin,
                "language": record.language,
                "text_version": record.text_version,
                "user_agent": record.user_agent,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    # Ids in the chain's order: the head is locked, so no other append can interleave.
    conn = session.connection()
    ids = insert_returning_ids(conn, _ENTRIES, rows)
    conn.execute(_UPDATE_HEAD, {"new_hash": prev, "new_entry_id": ids[-1]})
    return ids


def record_of(entry: LedgerEntry) -> LedgerRecord:
    return LedgerRecord(
        at=entry.at,
        subject_key=entry.subject_key,
        subscription=entry.subscription,
        channel=entry.channel,
        state=entry.state,
        source=entry.source,
        proof=entry.proof,
        property=entry.property,
        origin=entry.origin,
        language=entry.language,
        text_version=entry.text_version,
        user_agent=entry.user_agent,
    )


def verify_chain(deps: Deps) -> dict[str, object]:
    """Walk every entry in id order, a page at a time, and compare the end with the head."""
    return _verify(deps).as_dict()


def _verify(deps: Deps) -> ChainReport:
    verifier = ChainVerifier()
    with deps.session() as session:
        head = session.get(LedgerHead, HEAD_ID)
        head_hash = head.last_hash if head else None
        head_entry = head.last_entry_id if head else None
    last_id = 0
    while True:
        # Short keyset pages, each in its own transaction, so saves are never held up; entries
        # appended after the head was read are left for the next verification.
        with deps.session() as session:
            query = select(LedgerEntry).where(LedgerEntry.id > last_id)
            if head_entry is not None:
                query = query.where(LedgerEntry.id <= head_entry)
            page = session.scalars(query.order_by(LedgerEntry.id).limit(VERIFY_BATCH)).all()
            for entry in page:
                verifier.feed(entry.id, record_of(entry), entry.prev_hash, entry.hash)
        if not page:
            break
        last_id = page[-1].id
    return verifier.finish(head_hash, head_entry)


def entries_for(
    deps: Deps, *, external_id: str | None = None, email: str | None = None, limit: int = 500
) -> list[dict[str, object]]:
    """PRODUCT 1.5: the ledger entries of the person named by external_id or email, newest first."""
    with deps.session() as session:
        keys = [
            s.subject_key for s in subjects_named(session, external_id=external_id, email=email)
        ]
        if not keys:
            return []
        rows = session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.subject_key.in_(keys))
            .order_by(LedgerEntry.id.desc())
            .limit(max(1, min(limit, MAX_ENTRIES)))
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
                "hash": e.hash,
                "prev_hash": e.prev_hash,
            }
            for e in rows
        ]
