"""The write path of a choice: preference rows, ledger entries and outbox rows, in the caller's
transaction, so either all of them exist or none does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from backend.db.models import Preference, Subject
from backend.domain.ledger import LedgerRecord
from backend.domain.outbox_plan import KIND_GROUP
from backend.domain.preferences import ALL_TOPICS, GLOBAL_KINDS, Change, TopicSpec, plan_globals
from backend.services import braze_aliases
from backend.services.bulk_rows import (
    attach_written,
    insert_returning_ids,
    insert_rows,
    update_rows,
)
from backend.services.catalogue import ConnectionInfo
from backend.services.ledger import append_entries
from backend.services.outbox import OUTBOX_TABLE, new_row


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
    subject_values: dict[str, Any]
    entry_ids: list[int] = field(default_factory=list)
    # (the preference's column values, the change, its ledger entry id)
    rows: list[tuple[dict[str, Any], Change, int]] = field(default_factory=list)


def apply_change_sets(session: Session, change_sets: Sequence[ChangeSet]) -> list[Applied]:
    """``apply_changes`` for several people at once (a group of saves sharing a transaction):
    the same rows as applying each set alone, in order, but one ledger append for all of them,
    taken as late as possible — the ledger head stays locked until commit. A person appears in
    at most one set.

    The rows are written with a handful of Core statements (one UPDATE and one INSERT for the
    preferences, one INSERT for the outbox, one UPDATE for the people), not the unit of work:
    these run in every widget save, under the write lock. The ORM objects handed in (people,
    ``existing`` preferences) are brought up to date as if they had been flushed."""
    if any(p.id is None for cs in change_sets for p in cs.existing.values()):
        session.flush()  # preferences added by the caller and not written yet
    planned = [_plan(change_set) for change_set in change_sets]
    records = [record for plan in planned for record in plan.records]
    if records:
        entry_ids = append_entries(session, records)
        start = 0
        for plan in planned:
            plan.entry_ids = entry_ids[start : start + len(plan.records)]
            start += len(plan.records)
    outbox: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    applied: list[Applied] = []
    for change_set, plan in zip(change_sets, planned, strict=True):
        if plan.records:
            plan.rows = _preference_rows(change_set, plan.entry_ids)
            applied.append(_write_outbox(change_set, plan, outbox))
        else:
            applied.append(Applied(0, frozenset()))
    _store_preferences(session, change_sets, planned)
    if outbox:
        for row, pref in outbox:
            if pref is not None:
                row["preference_id"] = pref["id"]
        # Nothing reads these rows back in this transaction.
        insert_rows(session.connection(), OUTBOX_TABLE, [row for row, _ in outbox])
    _store_subjects(session, change_sets, planned)
    return applied


_PREFERENCES = cast(Table, Preference.__table__)
_SUBJECTS = cast(Table, Subject.__table__)
_PREFERENCE_STATE = ("state", "source", "updated_at", "sync_status", "synced_at", "ledger_entry_id")
_SUBJECT_STATE = ("last_seen_at", "unsubscribed_all_at", "global_states")


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
    values: dict[str, Any] = {}
    if cs.unsubscribe_all and subject.unsubscribed_all_at is None:
        values["unsubscribed_all_at"] = now
    elif any(c.state == "subscribed" for c in cs.changes) and subject.unsubscribed_all_at:
        values["unsubscribed_all_at"] = None
    if records:
        values["last_seen_at"] = now
    return _Planned(records, global_changes, values)


def _preference_rows(
    cs: ChangeSet, entry_ids: Sequence[int]
) -> list[tuple[dict[str, Any], Change, int]]:
    """The new column values of each changed preference (its ``id`` when it exists already)."""
    by_code = {t.code: t for t in cs.topics}
    rows: list[tuple[dict[str, Any], Change, int]] = []
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for change, entry_id in zip(cs.changes, entry_ids, strict=False):
        key = (change.subscription, change.channel)
        values = by_key.get(key)
        if values is None:
            pref = cs.existing.get(key)
            values = by_key[key] = (
                {"id": pref.id}
                if pref is not None
                else {
                    "id": None,
                    "subject_id": cs.subject.id,
                    "subscription_id": by_code[change.subscription].id,
                    "channel": change.channel,
                }
            )
        values.update(
            state=change.state,
            source=cs.ctx.source,
            updated_at=cs.now,
            sync_status="pending" if cs.propagate else "synced",
            synced_at=None if cs.propagate else cs.now,
            ledger_entry_id=entry_id,
        )
        rows.append((values, change, entry_id))
    return rows


def _store_preferences(
    session: Session, change_sets: Sequence[ChangeSet], planned: Sequence[_Planned]
) -> None:
    """Write the planned preference rows; ``existing`` then holds their up-to-date objects."""
    updates: list[dict[str, Any]] = []
    inserts: list[tuple[ChangeSet, dict[str, Any]]] = []
    seen: set[int] = set()
    for change_set, plan in zip(change_sets, planned, strict=True):
        for values, _, _ in plan.rows:
            if id(values) in seen:
                continue
            seen.add(id(values))
            if values["id"] is None:
                inserts.append((change_set, values))
            else:
                updates.append({"id": values["id"], **{k: values[k] for k in _PREFERENCE_STATE}})
    if not updates and not inserts:
        return
    conn = session.connection()
    update_rows(conn, _PREFERENCES, updates)
    new_rows = [{k: v for k, v in values.items() if k != "id"} for _, values in inserts]
    for (_, values), new_id in zip(
        inserts, insert_returning_ids(conn, _PREFERENCES, new_rows), strict=True
    ):
        values["id"] = new_id
    for change_set, plan in zip(change_sets, planned, strict=True):
        for values, change, _ in plan.rows:
            key = (change.subscription, change.channel)
            pref = change_set.existing.get(key)
            if pref is None:
                change_set.existing[key] = attach_written(session, Preference(**values))
            else:
                for name in _PREFERENCE_STATE:
                    set_committed_value(pref, name, values[name])


def _store_subjects(
    session: Session, change_sets: Sequence[ChangeSet], planned: Sequence[_Planned]
) -> None:
    """The people's new unsubscribe-all time, last-seen time and global states."""
    rows: list[tuple[Subject, dict[str, Any]]] = []
    for change_set, plan in zip(change_sets, planned, strict=True):
        if plan.subject_values:
            subject = change_set.subject
            current = {name: getattr(subject, name) for name in _SUBJECT_STATE}
            rows.append((subject, {**current, **plan.subject_values}))
    if not rows:
        return
    stored: list[dict[str, Any]] = []
    for subject, values in rows:
        persistent = inspect(subject).persistent
        if persistent:
            stored.append({"id": subject.id, **values})
        for name in _SUBJECT_STATE:
            if persistent:
                set_committed_value(subject, name, values[name])
            else:  # not in the database yet: the unit of work writes it with the rest
                setattr(subject, name, values[name])
    update_rows(session.connection(), _SUBJECTS, stored)


def _write_outbox(
    cs: ChangeSet, plan: _Planned, outbox: list[tuple[dict[str, Any], dict[str, Any] | None]]
) -> Applied:
    if not cs.propagate:
        return Applied(len(cs.changes), frozenset())
    subject, connections, now = cs.subject, cs.connections, cs.now
    by_code = {t.code: t for t in cs.topics}
    touched: set[int] = set()
    for values, change, entry_id in plan.rows:
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
        if row["status"] == "dead":
            values["sync_status"] = "failed"
        outbox.append((row, values))
        touched.add(spec.connection_id)
    global_connections = sorted({c.connection_id for t in cs.topics for c in t.channels})
    globals_now = dict(subject.global_states or {})
    for (kind, state), entry_id in zip(
        plan.global_changes, plan.entry_ids[len(cs.changes) :], strict=True
    ):
        for connection_id in global_connections:
            outbox.append(
                (
                    _outbox_row(
                        subject,
                        connections.get(connection_id),
                        connection_id,
                        now,
                        kind=kind,
                        target="",
                        state=state,
                        payload={"ledger_entry_id": entry_id},
                    ),
                    None,
                )
            )
            touched.add(connection_id)
        globals_now[kind] = state
    if plan.global_changes:
        plan.subject_values["global_states"] = globals_now
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
) -> dict[str, Any]:
    """One change for one connection (the new row's column values), identified as the
    connection says; a visitor known only by email on an external_id connection goes to a Braze
    user alias (``braze_aliases``); a subject the connection cannot name is dead at once, with
    the reason."""
    id_type = connection.identity if connection else "external_id"
    identifier = subject.external_id if id_type == "external_id" else subject.email
    if not identifier and id_type == "external_id" and subject.email:
        return braze_aliases.outbox_row(
            subject, connection_id, now, kind=kind, target=target, state=state, payload=payload
        )
    row = new_row(
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
        row["status"] = "dead"
        row["last_error"] = (
            f"this visitor has no {id_type} and the Braze connection identifies users by "
            f"{id_type}; visitors known only by email need an alias (not supported yet)"
        )
    return row
