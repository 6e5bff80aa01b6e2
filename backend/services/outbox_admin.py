"""What the admin sees of the outbox (depth per status, sync lag, rows); dead-letter replay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from backend.db.models import BrazeConnection, OutboxEntry, Preference
from backend.domain.errors import FieldError, NotFoundError, ValidationError
from backend.domain.outbox_plan import KIND_CREATE_USER
from backend.services.deps import Deps
from backend.services.propagation import enqueue_propagation

STATUSES = ("pending", "in_flight", "sent", "superseded", "dead")
MAX_LIST = 500


def outbox_summary(
    deps: Deps, *, status: str | None = None, connection: str | None = None, limit: int = 100
) -> dict[str, Any]:
    """Depth per status, the oldest pending change (the sync lag) and, with ``status``, rows."""
    if status is not None and status not in STATUSES:
        raise ValidationError(FieldError("status", f"one of {', '.join(STATUSES)}"))
    limit = max(1, min(limit, MAX_LIST))
    with deps.session() as session:
        connection_id = _connection_id(session, connection)
        filters = [OutboxEntry.kind != KIND_CREATE_USER]
        if connection_id is not None:
            filters.append(OutboxEntry.connection_id == connection_id)
        counts = dict.fromkeys(STATUSES, 0)
        for row_status, count in session.execute(
            select(OutboxEntry.status, func.count()).where(*filters).group_by(OutboxEntry.status)
        ):
            counts[row_status] = int(count)
        oldest = session.scalar(
            select(func.min(OutboxEntry.created_at)).where(
                *filters, OutboxEntry.status.in_(("pending", "in_flight"))
            )
        )
        now = deps.clock()
        result: dict[str, Any] = {
            "counts": counts,
            "oldest_pending_at": oldest.isoformat() if oldest else None,
            "sync_lag_seconds": round((now - oldest).total_seconds(), 3) if oldest else 0.0,
        }
        if status is not None:
            codes = dict(session.execute(select(BrazeConnection.id, BrazeConnection.code)).all())
            rows = session.scalars(
                select(OutboxEntry)
                .where(*filters, OutboxEntry.status == status)
                .order_by(OutboxEntry.id.desc())
                .limit(limit)
            )
            result["entries"] = [_row(r, codes.get(r.connection_id)) for r in rows]
    return result


def _row(row: OutboxEntry, connection: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "connection": connection,
        "kind": row.kind,
        "target": row.target,
        "identifier_type": row.identifier_type,
        "identifier": row.identifier,
        "state": row.state,
        "status": row.status,
        "attempts": row.attempts,
        "created_at": row.created_at.isoformat(),
        "next_attempt_at": row.next_attempt_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "last_error": row.last_error,
    }


def _connection_id(session: Any, code: str | None) -> int | None:
    if code is None:
        return None
    found = session.scalar(select(BrazeConnection.id).where(BrazeConnection.code == code))
    if found is None:
        raise NotFoundError(f"Braze connection {code!r} does not exist")
    return int(found)


def replay_dead(
    deps: Deps, *, connection: str | None = None, ids: Sequence[int] | None = None
) -> dict[str, int]:
    """Dead rows back to pending with attempts 0 — unless a newer change to the same key exists,
    which makes them moot (superseded): replaying an old state must never undo a newer one."""
    with deps.session() as session:
        connection_id = _connection_id(session, connection)
        query = select(OutboxEntry).where(OutboxEntry.status == "dead")
        if connection_id is not None:
            query = query.where(OutboxEntry.connection_id == connection_id)
        if ids is not None:
            query = query.where(OutboxEntry.id.in_(list(ids)))
        now = deps.clock()
        replayed, superseded, touched = 0, 0, set()
        for row in session.scalars(query.order_by(OutboxEntry.id)):
            newer = session.scalar(
                select(func.count()).where(
                    OutboxEntry.connection_id == row.connection_id,
                    OutboxEntry.kind == row.kind,
                    OutboxEntry.target == row.target,
                    OutboxEntry.identifier_type == row.identifier_type,
                    OutboxEntry.identifier == row.identifier,
                    OutboxEntry.id > row.id,
                    OutboxEntry.status != "superseded",
                )
            )
            if newer:
                row.status = "superseded"
                superseded += 1
                continue
            row.status, row.attempts, row.next_attempt_at = "pending", 0, now
            row.claimed_until, row.last_error = None, None
            entry_id = (row.payload or {}).get("ledger_entry_id")
            if row.preference_id is not None and isinstance(entry_id, int):
                pref = session.get(Preference, row.preference_id)
                if pref is not None and pref.ledger_entry_id == entry_id:
                    pref.sync_status = "pending"
            replayed += 1
            touched.add(row.connection_id)
    enqueue_propagation(deps, touched)
    return {"replayed": replayed, "superseded": superseded}
