"""Two-way reconciliation: pull Braze-side subscription changes into Optline (PRODUCT §2 flow 5).

Per connection: ``/email/unsubscribes`` for the days since the last successful run (paged, 500 a
page, oldest first; 30 days on the first run), then ``/subscription/user/status`` for subjects
active in the last 30 days (50 a call). Changes go through the consent write path
(``consent.apply_changes``) with source "braze", so they are in the ledger like any other choice:

- a global email unsubscribe newer than a choice turns it "unsubscribed"; that change does go out
  to Braze's subscription group (Braze kept the group's own state under its global unsubscribe),
  so the group states agree afterwards;
- a group state Braze reports differently from a synced Optline choice is taken as it is, with
  no outbox row: Braze has it already, and sending it back would only echo.

Rules are in ``backend.domain.reconcile``; both compare states first, so a second run over the
same Braze data changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.db.models import BrazeConnection, Preference, ReconcileState, Subject
from backend.domain import reconcile as rules
from backend.domain.errors import IntegrationError
from backend.domain.ledger import LedgerRecord
from backend.domain.preferences import ALL_TOPICS, TopicSpec
from backend.integrations.braze import UNSUBSCRIBES_MAX_LIMIT, USER_STATUS_MAX_LIMIT
from backend.services import braze_calls
from backend.services.catalogue import current_choices, load_connections, load_topics
from backend.services.consent import ChoiceContext, apply_changes
from backend.services.deps import Deps
from backend.services.ledger import append_entries
from backend.services.propagation import enqueue_propagation

log = logging.getLogger(__name__)

SUBJECT_BATCH = 50  # braze_api.md §2.4: up to 50 ids per /subscription/user/status call
EMAIL_BATCH = 500
PROOF_UNSUBSCRIBES = "braze:email_unsubscribes"
PROOF_USER_STATUS = "braze:subscription_user_status"


def reconcile_all(deps: Deps) -> dict[str, Any]:
    """Every non-sandbox connection (a sandbox one has no Braze-side state to pull)."""
    with deps.session() as session:
        ids = list(
            session.scalars(
                select(BrazeConnection.id)
                .where(BrazeConnection.sandbox.is_(False))
                .order_by(BrazeConnection.id)
            )
        )
    reports: dict[str, Any] = {}
    for connection_id in ids:
        try:
            report = reconcile_connection(deps, connection_id)
            reports[report.connection] = report.as_dict()
        except IntegrationError as exc:
            log.warning("reconcile failed", extra={"connection_id": connection_id})
            reports[str(connection_id)] = {"error": str(exc)}
    return reports


def reconcile_connection(
    deps: Deps, connection_code_or_id: str | int, *, since: datetime | date | None = None
) -> rules.ReconcileReport:
    connection_id, code = braze_calls.find_connection(deps, connection_code_or_id)
    report = rules.ReconcileReport(connection=code)
    now = deps.clock()
    with deps.session() as session:
        state = session.get(ReconcileState, connection_id)
        if state is None:
            state = ReconcileState(connection_id=connection_id)
            session.add(state)
        state.last_started_at = now
        last_success = state.last_success_at
    start, end = rules.unsubscribe_window(now, last_success, since)
    report.window = (start.isoformat(), end.isoformat())
    touched: set[int] = set()
    try:
        with braze_calls.open_link(deps, connection_id) as link:
            latest = _read_unsubscribes(deps, link, start, end, report)
            touched |= _apply_unsubscribes(deps, connection_id, latest, report)
            _reconcile_groups(deps, link, now, report)
    except IntegrationError as exc:
        with deps.session() as session:
            failed = session.get(ReconcileState, connection_id)
            if failed is not None:
                failed.last_error = str(exc)[:2000]
        enqueue_propagation(deps, touched)
        raise
    with deps.session() as session:
        done = session.get(ReconcileState, connection_id)
        assert done is not None
        done.last_success_at, done.last_error, done.last_report = now, None, report.as_dict()
    enqueue_propagation(deps, touched)
    log.info(
        "reconciled",
        extra={
            "connection_id": connection_id,
            "checked": report.checked,
            "changed": report.changed,
            "skipped": report.skipped,
        },
    )
    return report


def _read_unsubscribes(
    deps: Deps, link: braze_calls.BrazeLink, start: date, end: date, report: rules.ReconcileReport
) -> dict[str, datetime]:
    """Every unsubscribe in the window, page by page; the latest time per address."""
    latest: dict[str, datetime] = {}
    offset = 0
    while True:
        page = braze_calls.call(
            deps,
            link,
            "email_unsubscribes",
            None,
            partial(
                link.client.email_unsubscribes,
                start,
                end,
                limit=UNSUBSCRIBES_MAX_LIMIT,
                offset=offset,
                sort_direction="asc",
            ),
        )
        report.requests += 1
        report.unsubscribes_read += len(page)
        for row in page:
            parsed = rules.parse_unsubscribe(row)
            if parsed is None:
                continue
            email, at = parsed
            if email not in latest or at > latest[email]:
                latest[email] = at
        if len(page) < UNSUBSCRIBES_MAX_LIMIT:
            return latest
        offset += UNSUBSCRIBES_MAX_LIMIT


def _connection_topics(session: Session, connection_id: int) -> tuple[list[TopicSpec], list[Any]]:
    topics = load_topics(session, None)
    email_keys = [
        (t.code, c.channel)
        for t in topics
        for c in t.channels
        if c.connection_id == connection_id and c.channel == "email"
    ]
    return topics, email_keys


def _rows(existing: dict[tuple[str, str], Preference]) -> dict[tuple[str, str], rules.LocalRow]:
    return {k: rules.LocalRow(p.state, p.updated_at, p.sync_status) for k, p in existing.items()}


def _apply_unsubscribes(
    deps: Deps, connection_id: int, latest: dict[str, datetime], report: rules.ReconcileReport
) -> set[int]:
    touched: set[int] = set()
    emails = sorted(latest)
    for start in range(0, len(emails), EMAIL_BATCH):
        batch = emails[start : start + EMAIL_BATCH]
        with deps.session() as session:
            topics, email_keys = _connection_topics(session, connection_id)
            connections = load_connections(session, topics)
            subjects = _locked(session, Subject.email.in_(batch))
            seen = {s.email for s in subjects}
            report.unmatched += sum(1 for e in batch if e not in seen)
            now = deps.clock()
            for subject in subjects:
                assert subject.email is not None
                existing = current_choices(session, subject.id, topics)
                decision = rules.plan_email_unsubscribe(
                    _rows(existing),
                    email_keys,
                    latest[subject.email],
                    (subject.global_states or {}).get("email_subscribe"),
                )
                report.count(decision.outcome)
                if decision.changes:
                    applied = apply_changes(
                        session,
                        subject=subject,
                        topics=topics,
                        connections=connections,
                        existing=existing,
                        changes=decision.changes,
                        unsubscribe_all=False,
                        ctx=ChoiceContext(source="braze", proof=PROOF_UNSUBSCRIBES),
                        now=now,
                    )
                    touched |= applied.connection_ids
                if decision.set_global:
                    _record_global_unsubscribe(session, subject, now)
    return touched


def _record_global_unsubscribe(session: Session, subject: Subject, now: datetime) -> None:
    """Braze's global email unsubscribe, in the ledger and in what Optline believes Braze has
    (so the person's next opt-in in the widget re-subscribes them globally)."""
    append_entries(
        session,
        [
            LedgerRecord(
                at=now,
                subject_key=subject.subject_key,
                subscription=ALL_TOPICS,
                channel="email",
                state="unsubscribed",
                source="braze",
                proof=PROOF_UNSUBSCRIBES,
            )
        ],
    )
    subject.global_states = {**(subject.global_states or {}), "email_subscribe": "unsubscribed"}


def _locked(session: Session, condition: Any) -> list[Subject]:
    query = select(Subject).where(condition).order_by(Subject.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return list(session.scalars(query))


def _active_subject_ids(deps: Deps, identity: str, now: datetime) -> list[int]:
    cutoff = now - timedelta(days=rules.ACTIVE_DAYS)
    column = Subject.external_id if identity == "external_id" else Subject.email
    with deps.session() as session:
        recent = select(Preference.subject_id).where(Preference.updated_at >= cutoff)
        return list(
            session.scalars(
                select(Subject.id)
                .where(column.is_not(None))
                .where(or_(Subject.last_seen_at >= cutoff, Subject.id.in_(recent)))
                .order_by(Subject.id)
            )
        )


def _reconcile_groups(
    deps: Deps, link: braze_calls.BrazeLink, now: datetime, report: rules.ReconcileReport
) -> None:
    ids = _active_subject_ids(deps, link.identity, now)
    for start in range(0, len(ids), SUBJECT_BATCH):
        batch = ids[start : start + SUBJECT_BATCH]
        with deps.session() as session:
            names = {
                sid: value
                for sid, value in session.execute(
                    select(
                        Subject.id,
                        Subject.external_id if link.identity == "external_id" else Subject.email,
                    ).where(Subject.id.in_(batch))
                )
                if value
            }
        states = _braze_group_states(deps, link, sorted(set(names.values())), report)
        _apply_group_states(deps, link.id, names, states, report)


def _braze_group_states(
    deps: Deps, link: braze_calls.BrazeLink, values: Sequence[str], report: rules.ReconcileReport
) -> dict[str, dict[str, str | None]]:
    """identifier -> group id -> state; a group two profiles disagree on maps to None."""
    by_external_id = link.identity == "external_id"
    out: dict[str, dict[str, str | None]] = {}
    offset = 0
    while values:
        statuses = braze_calls.call(
            deps,
            link,
            "subscription_user_status",
            None,
            partial(
                link.client.subscription_user_status,
                external_ids=list(values) if by_external_id else None,
                emails=None if by_external_id else list(values),
                limit=USER_STATUS_MAX_LIMIT,
                offset=offset,
            ),
        )
        report.requests += 1
        users = set()
        for status in statuses:
            who = status.external_id if by_external_id else status.email
            if who is None and len(values) == 1:
                who = values[0]
            if who is None or who not in values or not status.group_id:
                continue
            users.add((status.external_id, status.email, status.phone))
            groups = out.setdefault(who, {})
            if status.group_id in groups and groups[status.group_id] != status.state:
                groups[status.group_id] = None
            else:
                groups[status.group_id] = status.state
        if len(users) < USER_STATUS_MAX_LIMIT:
            return out
        offset += USER_STATUS_MAX_LIMIT
    return out


def _apply_group_states(
    deps: Deps,
    connection_id: int,
    names: dict[int, str],
    states: dict[str, dict[str, str | None]],
    report: rules.ReconcileReport,
) -> None:
    with deps.session() as session:
        topics = load_topics(session, None)
        by_group = {
            c.group_id: (t.code, c.channel)
            for t in topics
            for c in t.channels
            if c.connection_id == connection_id
        }
        connections = load_connections(session, topics)
        now = deps.clock()
        for subject in _locked(session, Subject.id.in_(sorted(names))):
            braze = _keyed(states.get(names[subject.id], {}), by_group, report)
            if not braze:
                continue
            report.subjects_checked += 1
            existing = current_choices(session, subject.id, topics)
            changes, tally = rules.plan_group_states(_rows(existing), braze)
            for outcome, n in tally.items():
                report.count(outcome, n)
            if changes:
                apply_changes(
                    session,
                    subject=subject,
                    topics=topics,
                    connections=connections,
                    existing=existing,
                    changes=changes,
                    unsubscribe_all=False,
                    ctx=ChoiceContext(source="braze", proof=PROOF_USER_STATUS),
                    now=now,
                    propagate=False,
                )


def _keyed(
    groups: dict[str, str | None],
    by_group: dict[str, tuple[str, str]],
    report: rules.ReconcileReport,
) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for group_id, state in groups.items():
        key = by_group.get(group_id)
        if key is None:
            continue  # a group Optline does not show
        if state is None:
            report.count("skipped")  # profiles sharing the address disagree
            continue
        out[key] = state
    return out


def summary(report: rules.ReconcileReport) -> Iterable[str]:
    """Lines ``optline reconcile`` prints."""
    start, end = report.window
    yield f"reconciled {report.connection} (unsubscribes {start} .. {end})"
    yield (
        f"checked {report.checked}, changed {report.changed}, unchanged {report.unchanged}, "
        f"skipped {report.skipped}"
    )
    yield (
        f"{report.unsubscribes_read} unsubscribes read ({report.unmatched} unknown to Optline), "
        f"{report.subjects_checked} subjects compared, {report.requests} Braze requests"
    )
