"""Widget saves written in groups (group commit): the saves that arrive while one group is being
written share the next transaction, so they share one ledger append, one lock of the ledger head
and one commit instead of queueing for the head one by one.

Every save still gets exactly what a save alone would write — preference, ledger entry, outbox
row, in one transaction — and its own answer. There is no waiting for a group to fill: the first
save finds the writer idle and writes at once; saves arriving meanwhile form the next group, led by
the first of them. A person appears once per group (a second save of theirs waits for the next),
so each save is planned against the state the one before left. A group that fails as a whole
(two processes creating the same visitor at once, say) is written again one save at a time, so
one save's failure never fails another's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Preference, Subject
from backend.domain.identity import VisitorIdentity
from backend.domain.preferences import Change, SaveRequest, plan_changes
from backend.services.catalogue import as_current, create_subjects, find_subject, refresh_email
from backend.services.consent import Applied, ChangeSet, ChoiceContext, apply_change_sets
from backend.services.deps import Deps
from backend.services.propagation import enqueue_propagation
from backend.services.property_cache import PropertySnapshot

log = logging.getLogger(__name__)

MAX_GROUP = 64
WRITER_KEY = "save_writer"
_create_lock = threading.Lock()


@dataclass(eq=False)
class SaveJob:
    """One visitor's save: what to write, and (once written) what happened."""

    identity: VisitorIdentity
    prop: PropertySnapshot
    req: SaveRequest
    ctx: ChoiceContext
    existing: dict[tuple[str, str], Preference] = field(default_factory=dict)
    applied: Applied = field(default_factory=lambda: Applied(0, frozenset()))
    unsubscribed_all: bool = False
    subject_id: int | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    leads: bool = False

    @property
    def key(self) -> str:
        """Who this save is for: one person per group."""
        if self.identity.external_id is not None:
            return "x:" + self.identity.external_id
        return "e:" + (self.identity.email or "")


Take = Callable[[], list[SaveJob]]


class GroupWriter:
    """Leader/follower group commit: ``submit`` blocks until the job is written.

    The leader's write gets ``take``, which forms the group when called: the write calls it once
    it holds the database's write lock, so every save that arrived while it waited for the lock
    joins this group instead of waiting for the next one."""

    def __init__(self, write: Callable[[Take], None], max_group: int = MAX_GROUP) -> None:
        self._write = write
        self._max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[SaveJob] = []
        self._busy = False

    def submit(self, job: SaveJob) -> None:
        with self._lock:
            self._queue.append(job)
            job.leads = not self._busy
            self._busy = True
        if not job.leads:
            job.done.wait()
            if not job.leads:
                return
        # Leading: the job is first in the queue, so the group taken contains it.
        group: list[SaveJob] = []

        def take() -> list[SaveJob]:
            if not group:
                group.extend(self._take())
            return group

        try:
            self._write(take)
        finally:
            for member in take():
                if member is not job:
                    member.done.set()
            self._hand_over()

    def _take(self) -> list[SaveJob]:
        with self._lock:
            group: list[SaveJob] = []
            keys: set[str] = set()
            rest: list[SaveJob] = []
            for queued in self._queue:
                if len(group) < self._max_group and queued.key not in keys:
                    group.append(queued)
                    keys.add(queued.key)
                else:
                    rest.append(queued)
            self._queue = rest
            return group

    def _hand_over(self) -> None:
        with self._lock:
            if not self._queue:
                self._busy = False
                return
            nxt = self._queue[0]
        nxt.leads = True
        nxt.done.set()


def writer(deps: Deps) -> GroupWriter:
    """This process's writer of widget saves (one per ``Deps``)."""
    found: GroupWriter | None = deps.extras.get(WRITER_KEY)
    if found is None:
        with _create_lock:
            found = deps.extras.get(WRITER_KEY)
            if found is None:
                found = GroupWriter(lambda take: write_group(deps, take))
                deps.extras[WRITER_KEY] = found
    return found


def write_group(deps: Deps, take: Take) -> None:
    """Begin a transaction (on SQLite: wait for the write lock), take the group, write it; if
    that fails, write each save alone, so only a bad one fails. Propagation is enqueued once,
    after the commit."""
    jobs: list[SaveJob] = []
    try:
        with deps.session() as session:
            session.connection()  # BEGIN; the group is formed only now
            jobs = take()
            _write(session, jobs, deps.clock())
    except Exception as exc:  # noqa: BLE001 - raised again in the request it belongs to
        jobs = take()
        if len(jobs) == 1:
            jobs[0].error = exc
        else:
            log.info("save group failed; writing its saves one by one", extra={"n": len(jobs)})
            for job in jobs:
                try:
                    with deps.session() as session:
                        _write(session, [job], deps.clock())
                except Exception as one:  # noqa: BLE001 - raised again in the job's request
                    job.error = one
    touched = {c for job in jobs if job.error is None for c in job.applied.connection_ids}
    enqueue_propagation(deps, touched)


def _write(session: Session, jobs: Sequence[SaveJob], now: datetime) -> None:
    for job in jobs:  # a group that failed may have left its answer half-filled
        job.applied, job.unsubscribed_all, job.subject_id = Applied(0, frozenset()), False, None
    found = _find_subjects(session, jobs)
    existing = _choices(session, [s.id for s in found.values()])
    sets: list[tuple[SaveJob, ChangeSet]] = []
    newcomers: list[tuple[SaveJob, list[Change]]] = []
    for job in jobs:
        subject = found.get(job.key)
        job.existing = _for_topics(existing.get(subject.id, []) if subject else [], job)
        changes = _plan(job)
        if subject is not None:
            refresh_email(subject, job.identity)
            sets.append((job, _change_set(job, subject, changes, now)))
        elif changes:  # someone never seen who changes nothing: nothing is written
            newcomers.append((job, changes))
    # New people in a fixed order, so two groups creating the same two never deadlock.
    newcomers.sort(key=lambda pair: pair[0].key)
    created = create_subjects(session, [job.identity for job, _ in newcomers], now)
    for (job, changes), (subject, fresh) in zip(newcomers, created, strict=True):
        if not fresh:
            # Another request created this person meanwhile: plan again under the lock.
            choices = _choices(session, [subject.id]).get(subject.id, [])
            job.existing = _for_topics(choices, job)
            changes = _plan(job)
        sets.append((job, _change_set(job, subject, changes, now)))
    order = {id(job): index for index, job in enumerate(jobs)}
    sets.sort(key=lambda pair: order[id(pair[0])])
    for (job, change_set), applied in zip(
        sets, apply_change_sets(session, [cs for _, cs in sets]), strict=True
    ):
        job.applied = applied
        job.unsubscribed_all = change_set.subject.unsubscribed_all_at is not None
        job.subject_id = change_set.subject.id


def _plan(job: SaveJob) -> list[Change]:
    return plan_changes(
        job.prop.topics,
        as_current(job.existing),
        job.req.changes,
        unsubscribe_all=job.req.unsubscribe_all,
    )


def _change_set(job: SaveJob, subject: Subject, changes: list[Change], now: datetime) -> ChangeSet:
    return ChangeSet(
        subject=subject,
        topics=job.prop.topics,
        connections=job.prop.connections,
        existing=job.existing,
        changes=changes,
        unsubscribe_all=job.req.unsubscribe_all,
        ctx=job.ctx,
        now=now,
    )


def _find_subjects(session: Session, jobs: Sequence[SaveJob]) -> dict[str, Subject]:
    """Every job's subject, locked, in external-id order (groups lock people in one order)."""
    found: dict[str, Subject] = {}
    external_ids = sorted({j.identity.external_id for j in jobs if j.identity.external_id})
    if external_ids:
        rows = session.scalars(
            select(Subject)
            .where(Subject.external_id.in_(external_ids))
            .order_by(Subject.external_id)
            .with_for_update()
        )
        found.update({"x:" + str(s.external_id): s for s in rows})
    for job in jobs:
        if job.identity.external_id is None:
            subject = find_subject(session, job.identity, lock=True)
            if subject is not None:
                found[job.key] = subject
    return found


def _choices(session: Session, subject_ids: list[int]) -> dict[int, list[Preference]]:
    """The preference rows of these subjects, by subject."""
    out: dict[int, list[Preference]] = {}
    if subject_ids:
        for pref in session.scalars(
            select(Preference).where(Preference.subject_id.in_(sorted(set(subject_ids))))
        ):
            out.setdefault(pref.subject_id, []).append(pref)
    return out


def _for_topics(rows: list[Preference], job: SaveJob) -> dict[tuple[str, str], Preference]:
    """``catalogue.current_choices`` for the job's topics, from rows already read."""
    code_of = {t.id: t.code for t in job.prop.topics}
    return {
        (code_of[p.subscription_id], p.channel): p for p in rows if p.subscription_id in code_of
    }
