"""The outbox's states in the database: claim with a lease, record outcomes, sweep, replay.

pending → in_flight (claimed, with a lease) → sent | pending again (retry) | dead; older rows of
the same change key become superseded. A worker that dies mid-batch leaves in_flight rows whose
lease expires; the sweeper puts them back to pending, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Select, Table, func, select, update
from sqlalchemy.orm import Session

from backend.db.models import OutboxEntry, Preference, Subject
from backend.domain.outbox_plan import (
    KIND_CREATE_USER,
    MAX_ATTEMPTS,
    TRACK_KINDS,
    OutboxItem,
    coalesce,
    retry_delay,
)
from backend.services.deps import Deps

Q = TypeVar("Q", bound=Select[Any])

OUTBOX_TABLE = cast(Table, OutboxEntry.__table__)
# The columns a new row leaves empty (claim, hold, delivery, error, the preference it carries).
_EMPTY_ON_CREATE = dict.fromkeys(
    ("preference_id", "claimed_until", "hold_until", "sent_at", "last_error")
)


def new_row(**values: Any) -> dict[str, Any]:
    """The column values of a new outbox row, for one multi-row INSERT (every row the same
    keys): ``values`` with the columns a new row leaves empty."""
    return {**_EMPTY_ON_CREATE, **values}


LEASE_SECONDS = 120
CLAIM_LIMIT = 250
IN_CHUNK = 500


@dataclass(frozen=True)
class ClaimedRow:
    item: OutboxItem
    subject_id: int | None
    attempts: int


@dataclass
class Claim:
    rows: list[ClaimedRow]
    claimed_at: datetime
    emails: dict[int, str | None] = field(default_factory=dict)  # subject id -> email
    seen: set[str] = field(default_factory=set)  # external ids Braze already has from us


@dataclass
class Outcome:
    sent: list[int] = field(default_factory=list)
    retry: dict[int, tuple[str, float | None]] = field(default_factory=dict)  # error, retry_after
    dead: dict[int, str] = field(default_factory=dict)
    released: dict[int, datetime] = field(default_factory=dict)  # not attempted: back, unchanged
    # Retries whose request went unanswered and may still be applied: seconds their key waits.
    hold: dict[int, float] = field(default_factory=dict)
    created: list[tuple[str, int | None]] = field(default_factory=list)  # external id, subject


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _lockable(session: Session, query: Q) -> Q:
    return query.with_for_update(skip_locked=True) if _pg(session) else query


def _item(row: OutboxEntry) -> OutboxItem:
    channel = (row.payload or {}).get("channel")
    return OutboxItem(
        id=row.id,
        kind=row.kind,
        target=row.target,
        identifier_type=row.identifier_type,
        identifier=row.identifier,
        state=row.state,
        channel=channel if isinstance(channel, str) else None,
    )


def _chunked(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def claim(deps: Deps, connection_id: int, *, limit: int = CLAIM_LIMIT) -> Claim:
    """Lease due rows of one connection, newest per change key; older rows become superseded."""
    with deps.session() as session:
        now = deps.clock()
        due = session.scalars(
            _lockable(
                session,
                select(OutboxEntry)
                .where(
                    OutboxEntry.connection_id == connection_id,
                    OutboxEntry.status == "pending",
                    OutboxEntry.next_attempt_at <= now,
                )
                .order_by(OutboxEntry.id)
                .limit(limit),
            )
        ).all()
        if not due:
            return Claim([], now)
        # A key another worker is sending right now waits, so changes reach Braze in order.
        busy = {
            tuple(r)
            for r in session.execute(
                select(
                    OutboxEntry.kind,
                    OutboxEntry.target,
                    OutboxEntry.identifier_type,
                    OutboxEntry.identifier,
                ).where(
                    OutboxEntry.connection_id == connection_id,
                    OutboxEntry.status == "in_flight",
                    OutboxEntry.claimed_until > now,
                )
            )
        }
        due = [r for r in due if _item(r).key not in busy]
        keys = {_item(r).key for r in due}
        due_ids = {r.id for r in due}
        siblings = session.scalars(
            _lockable(
                session,
                select(OutboxEntry).where(
                    OutboxEntry.connection_id == connection_id,
                    OutboxEntry.status == "pending",
                    OutboxEntry.identifier.in_({k[3] for k in keys}),
                ),
            )
        ).all()
        rows = {r.id: r for r in due} | {
            r.id: r for r in siblings if r.id not in due_ids and _item(r).key in keys
        }
        plan = coalesce(_item(r) for r in rows.values())
        holds = _holds(rows.values(), now)
        for row_id in plan.superseded:
            rows[row_id].status = "superseded"
            rows[row_id].claimed_until = None
        until = now + timedelta(seconds=LEASE_SECONDS)
        claimed: list[ClaimedRow] = []
        for item in plan.winners:
            row = rows[item.id]
            hold = holds.get(item.key)
            if hold is not None:
                # An earlier request for this key went unanswered and may still land: the newest
                # state goes after it, not before (the hold moves to it from superseded rows).
                row.hold_until = hold
                row.next_attempt_at = max(row.next_attempt_at, hold)
            if row.next_attempt_at > now:
                continue  # the newest change is backing off; it goes when it is due
            row.status = "in_flight"
            row.claimed_until = until
            claimed.append(ClaimedRow(item, row.subject_id, row.attempts))
        result = Claim(claimed, now)
        _load_context(session, connection_id, result)
        return result


def _holds(rows: Iterable[OutboxEntry], now: datetime) -> dict[tuple[str, str, str, str], datetime]:
    """Per change key, the latest hold still running among its pending rows."""
    holds: dict[tuple[str, str, str, str], datetime] = {}
    for row in rows:
        if row.hold_until is not None and row.hold_until > now:
            key = _item(row).key
            holds[key] = max(holds.get(key, row.hold_until), row.hold_until)
    return holds


def _load_context(session: Session, connection_id: int, result: Claim) -> None:
    """Emails (to create users with) and the external ids this connection already sent."""
    subject_ids = sorted({r.subject_id for r in result.rows if r.subject_id is not None})
    for chunk in _chunked(subject_ids):
        for sid, email in session.execute(
            select(Subject.id, Subject.email).where(Subject.id.in_(chunk))
        ):
            result.emails[sid] = email
    external_ids = sorted(
        {r.item.identifier for r in result.rows if r.item.identifier_type == "external_id"}
    )
    for start in range(0, len(external_ids), IN_CHUNK):
        chunk_ids = external_ids[start : start + IN_CHUNK]
        result.seen.update(
            session.scalars(
                select(OutboxEntry.identifier).where(
                    OutboxEntry.connection_id == connection_id,
                    OutboxEntry.identifier_type == "external_id",
                    OutboxEntry.identifier.in_(chunk_ids),
                    OutboxEntry.kind.in_((KIND_CREATE_USER, *TRACK_KINDS)),
                    OutboxEntry.status == "sent",
                )
            )
        )


def record_outcome(
    deps: Deps, connection_id: int, outcome: Outcome, rand: Callable[[], float]
) -> None:
    """Write what happened to each claimed row, and the preferences' sync status."""
    ids = sorted({*outcome.sent, *outcome.retry, *outcome.dead, *outcome.released})
    with deps.session() as session:
        now = deps.clock()
        for chunk in _chunked(ids):
            for row in session.scalars(select(OutboxEntry).where(OutboxEntry.id.in_(chunk))):
                if row.status not in ("in_flight", "pending"):
                    continue  # superseded or replayed meanwhile: the newer decision stands
                if row.id in outcome.sent:
                    row.status, row.sent_at, row.last_error = "sent", now, None
                    _sync_preference(session, row, "synced", now)
                elif row.id in outcome.dead:
                    _kill(session, row, outcome.dead[row.id])
                elif row.id in outcome.retry:
                    error, retry_after = outcome.retry[row.id]
                    _retry(session, row, error, retry_after, now, rand)
                    if row.id in outcome.hold and row.status == "pending":
                        row.hold_until = now + timedelta(seconds=outcome.hold[row.id])
                        row.next_attempt_at = max(row.next_attempt_at, row.hold_until)
                else:
                    row.status, row.next_attempt_at = "pending", outcome.released[row.id]
                row.claimed_until = None
        for external_id, subject_id in outcome.created:
            session.add(
                OutboxEntry(
                    connection_id=connection_id,
                    subject_id=subject_id,
                    kind=KIND_CREATE_USER,
                    target="",
                    identifier_type="external_id",
                    identifier=external_id,
                    state="",
                    status="sent",
                    attempts=1,
                    created_at=now,
                    next_attempt_at=now,
                    sent_at=now,
                )
            )


def _retry(
    session: Session,
    row: OutboxEntry,
    error: str,
    retry_after: float | None,
    now: datetime,
    rand: Callable[[], float],
) -> None:
    row.attempts += 1
    row.last_error = error[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        _kill(session, row, f"gave up after {row.attempts} attempts: {error}")
        return
    row.status = "pending"
    row.next_attempt_at = now + timedelta(seconds=retry_delay(row.attempts, retry_after, rand))


def _kill(session: Session, row: OutboxEntry, error: str) -> None:
    row.status, row.last_error = "dead", error[:2000]
    _sync_preference(session, row, "failed", None)


def _sync_preference(session: Session, row: OutboxEntry, status: str, now: datetime | None) -> None:
    """Only while the preference still points at this change: a newer one keeps it pending."""
    entry_id = (row.payload or {}).get("ledger_entry_id")
    if row.preference_id is None or not isinstance(entry_id, int):
        return
    values: dict[str, object] = {"sync_status": status}
    if now is not None:
        values["synced_at"] = now
    session.execute(
        update(Preference)
        .where(Preference.id == row.preference_id, Preference.ledger_entry_id == entry_id)
        .values(**values)
    )


def next_due_at(deps: Deps, connection_id: int) -> datetime | None:
    with deps.session() as session:
        return session.scalar(
            select(func.min(OutboxEntry.next_attempt_at)).where(
                OutboxEntry.connection_id == connection_id, OutboxEntry.status == "pending"
            )
        )


def release_expired_leases(deps: Deps) -> int:
    """Rows a dead worker left in flight go back to pending (counting as an attempt)."""
    with deps.session() as session:
        now = deps.clock()
        rows = session.scalars(
            _lockable(
                session,
                select(OutboxEntry).where(
                    OutboxEntry.status == "in_flight", OutboxEntry.claimed_until < now
                ),
            )
        ).all()
        for row in rows:
            _retry(session, row, "the worker stopped before finishing", 0.0, now, lambda: 0.0)
            row.claimed_until = None
        return len(rows)


def connections_with_due_rows(deps: Deps) -> list[int]:
    with deps.session() as session:
        return list(
            session.scalars(
                select(OutboxEntry.connection_id)
                .where(OutboxEntry.status == "pending", OutboxEntry.next_attempt_at <= deps.clock())
                .distinct()
            )
        )
