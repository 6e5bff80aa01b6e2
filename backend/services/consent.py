"""The write path of a choice: preference rows, ledger entries and outbox rows, in the caller's
transaction, so either all of them exist or none does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, inspect
from sqlalchemy.orm import Session

from backend.db.models import OutboxEntry, Preference, Subject
from backend.domain.ledger import LedgerRecord
from backend.domain.outbox_plan import KIND_GROUP
from backend.domain.preferences import ALL_TOPICS, GLOBAL_KINDS, Change, TopicSpec, plan_globals
from backend.services import braze_aliases
from backend.services.catalogue import ConnectionInfo
from backend.services.ledger import append_entries


@dataclass(frozen=True)
class ChoiceContext:
    """Where a choice came from, for the ledger."""

    source: str  # widget | hosted | one_click | admin | api | braze | import
    proof: str
    property: str | None = None
    origin: str | None = None
    language: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Applied:
    changed: int
    connection_ids: frozenset[int]


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value else None


@dataclass
class ChangeSet:
    """One person's planned changes, with what ``apply_changes`` needs to write them."""

    subject: Subject
    topics: Sequence[TopicSpec]
    connections: Mapping[int, ConnectionInfo]
    existing: dict[tuple[str, str], Preference]
    changes: Sequence[Change]
    unsubscribe_all: bool
    ctx: ChoiceContext
    now: datetime
    propagate: bool = True


def apply_changes(
    session: Session,
    *,
    subject: Subject,
    topics: Sequence[TopicSpec],
    connections: Mapping[int, ConnectionInfo],
    existing: dict[tuple[str, str], Preference],
    changes: Sequence[Change],
    unsubscribe_all: bool,
    ctx: ChoiceContext,
    now: datetime,
    propagate: bool = True,
) -> Applied:
    """Write what ``changes`` (already reduced to real changes) mean; nothing when empty.

    ``propagate=False`` (reconciliation): Braze already has these states, so no outbox rows and
    no global states are derived; the preferences are synced as written."""
    change_set = ChangeSet(
        subject, topics, connections, existing, changes, unsubscribe_all, ctx, now, propagate
    )
    return apply_change_sets(session, [change_set])[0]


@dataclass
class _Planned:
    records: list[LedgerRecord]
    global_changes: list[tuple[str, str]]
    entry_ids: list[int] = field(default_factory=list)
    rows: list[tuple[Preference, Change, int]] = field(default_factory=list)


def apply_change_sets(session: Session, change_sets: Sequence[ChangeSet]) -> list[Applied]:
    """``apply_changes`` for several people at once (a group of saves sharing a transaction):
    the same rows as applying each set alone, in order, but one ledger append for all of them,
    taken as late as possible — the ledger head stays locked until commit. A person appears in
    at most one set."""
    planned = [_plan(change_set) for change_set in change_sets]
    records = [record for plan in planned for record in plan.records]
    if not records:
        return [Applied(0, frozenset()) for _ in change_sets]
    entry_ids = append_entries(session, records)
    start = 0
    for plan in planned:
        plan.entry_ids = entry_ids[start : start + len(plan.records)]
        start += len(plan.records)
    for change_set, plan in zip(change_sets, planned, strict=True):
        if plan.records:
            plan.rows = _write_preferences(session, change_set, plan.entry_ids)
    session.flush()
    outbox: list[OutboxEntry] = []
    applied = [
        _write_outbox(change_set, plan, outbox) if plan.records else Applied(0, frozenset())
        for change_set, plan in zip(change_sets, planned, strict=True)
    ]
    if outbox:
        # One multi-row INSERT; nothing reads these rows back in this transaction.
        session.execute(insert(OutboxEntry), [_values(row) for row in outbox])
    return applied


_OUTBOX_KEYS = tuple(attr.key for attr in inspect(OutboxEntry).column_attrs)


def _values(row: OutboxEntry) -> dict[str, Any]:
    """The columns a new outbox row was given (the rest take their defaults)."""
    given = row.__dict__
    return {key: given[key] for key in _OUTBOX_KEYS if key in given}


def _plan(cs: ChangeSet) -> _Planned:
    """The ledger records of one set, and its subject's new unsubscribe-all state."""
    subject, ctx, now = cs.subject, cs.ctx, cs.now
    globals_now = dict(subject.global_states or {})
    global_changes = (
        plan_globals(cs.changes, globals_now, unsubscribe_all=cs.unsubscribe_all)
        if cs.propagate
        else []
    )
    by_code = {t.code: t for t in cs.topics}
    records = [
        LedgerRecord(
            at=now,
            subject_key=subject.subject_key,
            subscription=c.subscription,
            channel=c.channel,
            state=c.state,
            source=ctx.source,
            proof=ctx.proof[:100],
            property=ctx.property,
            origin=_clip(ctx.origin, 300),
            language=_clip(ctx.language, 8),
            text_version=by_code[c.subscription].text_version,
            user_agent=_clip(ctx.user_agent, 400),
        )
        for c in cs.changes
    ]
    records += [
        LedgerRecord(
            at=now,
            subject_key=subject.subject_key,
            subscription=ALL_TOPICS,
            channel=GLOBAL_KINDS[kind],
            state=state,
            source=ctx.source,
            proof=ctx.proof[:100],
            property=ctx.property,
            origin=_clip(ctx.origin, 300),
            language=_clip(ctx.language, 8),
            user_agent=_clip(ctx.user_agent, 400),
        )
        for kind, state in global_changes
    ]
    if cs.unsubscribe_all and subject.unsubscribed_all_at is None:
        subject.unsubscribed_all_at = now
    elif any(c.state == "subscribed" for c in cs.changes):
        subject.unsubscribed_all_at = None
    if records:
        subject.last_seen_at = now
    return _Planned(records, global_changes)


def _write_preferences(
    session: Session, cs: ChangeSet, entry_ids: Sequence[int]
) -> list[tuple[Preference, Change, int]]:
    by_code = {t.code: t for t in cs.topics}
    rows: list[tuple[Preference, Change, int]] = []
    for change, entry_id in zip(cs.changes, entry_ids, strict=False):
        pref = cs.existing.get((change.subscription, change.channel))
        if pref is None:
            pref = Preference(
                subject_id=cs.subject.id,
                subscription_id=by_code[change.subscription].id,
                channel=change.channel,
            )
            session.add(pref)
            cs.existing[(change.subscription, change.channel)] = pref
        pref.state = change.state
        pref.source = cs.ctx.source
        pref.updated_at = cs.now
        pref.sync_status = "pending" if cs.propagate else "synced"
        pref.synced_at = None if cs.propagate else cs.now
        pref.ledger_entry_id = entry_id
        rows.append((pref, change, entry_id))
    return rows


def _write_outbox(cs: ChangeSet, plan: _Planned, outbox: list[OutboxEntry]) -> Applied:
    if not cs.propagate:
        return Applied(len(cs.changes), frozenset())
    subject, connections, now = cs.subject, cs.connections, cs.now
    by_code = {t.code: t for t in cs.topics}
    touched: set[int] = set()
    for pref, change, entry_id in plan.rows:
        spec = by_code[change.subscription].channel(change.channel)
        assert spec is not None
        row = _outbox_row(
            subject,
            connections.get(spec.connection_id),
            spec.connection_id,
            now,
            kind=KIND_GROUP,
            target=spec.group_id,
            state=change.state,
            payload={"ledger_entry_id": entry_id, "channel": change.channel},
        )
        row.preference_id = pref.id
        if row.status == "dead":
            pref.sync_status = "failed"
        outbox.append(row)
        touched.add(spec.connection_id)
    global_connections = sorted({c.connection_id for t in cs.topics for c in t.channels})
    globals_now = dict(subject.global_states or {})
    for (kind, state), entry_id in zip(
        plan.global_changes, plan.entry_ids[len(cs.changes) :], strict=True
    ):
        for connection_id in global_connections:
            outbox.append(
                _outbox_row(
                    subject,
                    connections.get(connection_id),
                    connection_id,
                    now,
                    kind=kind,
                    target="",
                    state=state,
                    payload={"ledger_entry_id": entry_id},
                )
            )
            touched.add(connection_id)
        globals_now[kind] = state
    if plan.global_changes:
        subject.global_states = globals_now
    return Applied(len(cs.changes), frozenset(touched))


def _outbox_row(
    subject: Subject,
    connection: ConnectionInfo | None,
    connection_id: int,
    now: datetime,
    *,
    kind: str,
    target: str,
    state: str,
    payload: dict[str, object],
) -> OutboxEntry:
    """One change for one connection, identified as the connection says; a visitor known only
    by email on an external_id connection goes to a Braze user alias (``braze_aliases``); a
    subject the connection cannot name is dead at once, with the reason."""
    id_type = connection.identity if connection else "external_id"
    identifier = subject.external_id if id_type == "external_id" else subject.email
    if not identifier and id_type == "external_id" and subject.email:
        return braze_aliases.outbox_row(
            subject, connection_id, now, kind=kind, target=target, state=state, payload=payload
        )
    row = OutboxEntry(
        connection_id=connection_id,
        subject_id=subject.id,
        kind=kind,
        target=target,
        identifier_type=id_type,
        identifier=identifier or "",
        state=state,
        payload=payload,
        status="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    if not identifier:
        row.status = "dead"
        row.last_error = (
            f"this visitor has no {id_type} and the Braze connection identifies users by "
            f"{id_type}; visitors known only by email need an alias (not supported yet)"
        )
    return row
