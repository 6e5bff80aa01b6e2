"""Propagating outbox rows to Braze: claim, plan requests, spend the workspace's budget, record.

Requests per claim: first ``/users/track`` (global email/push states, creating users Braze has not
seen from us, groups Braze cannot set by that identifier), then ``/subscription/status/set``
(≤ 50 ids per call). A retryable failure stops the round: the failed rows back off, rows not yet
tried go back unchanged. Sandbox connections take the same path; their client records requests.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from backend.db.models import BrazeConnection
from backend.domain.errors import ItemError, PermanentError, RetryableError
from backend.domain.outbox_plan import (
    KIND_GROUP,
    MAX_TRACK_OBJECTS,
    TRACK_KINDS,
    GroupRequest,
    TrackObject,
    chunks,
    plan_group_requests,
    plan_track_objects,
    settable_by_group_call,
)
from backend.domain.rate_budget import bucket_spec, ceiling_from_headers
from backend.integrations.braze_responses import to_item_errors
from backend.integrations.rate_limiter import TokenBuckets, token_buckets, workspace_key
from backend.services import braze_aliases, outbox
from backend.services.deps import Deps

log = logging.getLogger(__name__)

JOB_PATH = "backend.jobs.propagation.propagate_connection_job"
QUEUE = "braze"
MAX_ROUNDS = 20
MAX_INLINE_WAIT_SECONDS = 5.0
BUSY_RETRY_SECONDS = 5.0
# After a request went unanswered (it may still be applied), its key waits this many client
# timeouts before any state of it is sent again; 30 s with the default 10 s timeout.
HOLD_TIMEOUTS = 3
DEFAULT_HOLD = 30.0
MIN_HOLD_SECONDS = 1.0
_random = secrets.SystemRandom()


def enqueue_propagation(
    deps: Deps, connection_ids: Iterable[int], *, delay: float | None = None, tag: str = ""
) -> None:
    """After commit only. A failure is logged, never raised: the sweeper enqueues later."""
    for connection_id in sorted(set(connection_ids)):
        job_id = f"propagate-{connection_id}{tag}"
        try:
            if deps.jobs is None:
                raise RuntimeError("no job queue configured")
            deps.jobs.enqueue(JOB_PATH, connection_id, queue=QUEUE, job_id=job_id, delay=delay)
        except Exception:  # noqa: BLE001 - Redis down must not fail a committed save
            log.warning(
                "propagation not enqueued; the outbox sweeper will pick it up",
                extra={"connection_id": connection_id},
            )


@dataclass
class Report:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    requests: int = 0


@dataclass(frozen=True)
class Snapshot:
    id: int
    identity: str
    create_missing_users: bool
    budget_share: float
    bucket: str


def propagate_connection(
    deps: Deps,
    connection_id: int,
    *,
    rand: Callable[[], float] = _random.random,
    sleep: Callable[[float], None] = time.sleep,
    max_rounds: int = MAX_ROUNDS,
) -> Report:
    report = Report()
    with deps.session() as session:
        connection = session.get(BrazeConnection, connection_id)
        if connection is None:
            log.warning(
                "propagation for a missing connection", extra={"connection_id": connection_id}
            )
            return report
        api_key = deps.secrets.decrypt(connection.api_key_encrypted)
        snap = Snapshot(
            id=connection.id,
            identity=connection.identity,
            create_missing_users=connection.create_missing_users,
            budget_share=connection.budget_share,
            bucket=workspace_key(connection.rest_endpoint, api_key),
        )
        client = deps.braze_factory(session, connection_id)
    starved = False
    try:
        for _ in range(max_rounds):
            claim = outbox.claim(deps, connection_id)
            if not claim.rows:
                starved = True
                break
            sender = _Sender(deps, client, snap, token_buckets(deps.redis), sleep)
            outcome = sender.deliver(claim)
            outbox.record_outcome(deps, connection_id, outcome, rand)
            report.sent += len(outcome.sent)
            report.retried += len(outcome.retry)
            report.dead += len(outcome.dead)
            report.released += len(outcome.released)
            report.requests += sender.requests
            if sender.stopped:
                break
    finally:
        client.close()
    _follow_up(deps, connection_id, busy=starved)
    log.info(
        "propagation round done",
        extra={"connection_id": connection_id, "sent": report.sent, "dead": report.dead},
    )
    return report


def _follow_up(deps: Deps, connection_id: int, *, busy: bool) -> None:
    """Run again when the next row is due (soon, when rows wait on another worker's batch)."""
    due = outbox.next_due_at(deps, connection_id)
    if due is None:
        return
    delay = max(0.0, (due - deps.clock()).total_seconds())
    if busy and delay == 0:
        delay = BUSY_RETRY_SECONDS
    at = int(due.timestamp() + (BUSY_RETRY_SECONDS if busy else 0))
    enqueue_propagation(deps, [connection_id], delay=delay or None, tag=f"-at-{at}")


@dataclass
class _Call:
    endpoint: str  # users_track | subscription_status_set
    track: Sequence[TrackObject] = ()
    group: GroupRequest | None = None
    row_ids: list[int] = field(default_factory=list)


class _Sender:
    """Sends one claim's requests in order, within the bucket, and notes each row's outcome."""

    def __init__(
        self,
        deps: Deps,
        client: Any,
        snap: Snapshot,
        buckets: TokenBuckets,
        sleep: Callable[[float], None],
    ) -> None:
        self.deps, self.client, self.snap = deps, client, snap
        self.buckets, self.sleep = buckets, sleep
        self.outcome = outbox.Outcome()
        self.stopped = False
        self.requests = 0
        self.failed_creates: dict[str, str] = {}
        self.subject_of: dict[str, int | None] = {}
        self._retry_after: float | None = None

    def deliver(self, claim: outbox.Claim) -> outbox.Outcome:
        group_items, track_items, alias_rows = [], [], []
        for row in claim.rows:
            item = row.item
            if not item.identifier:
                self.outcome.dead[item.id] = f"no {item.identifier_type} for this visitor"
            elif item.kind == KIND_GROUP and settable_by_group_call(item):
                group_items.append(item)
            elif item.kind in TRACK_KINDS or item.kind == KIND_GROUP:
                track_items.append(item)
            elif item.kind == braze_aliases.KIND:
                alias_rows.append(row)
            else:
                self.outcome.dead[item.id] = f"unsupported outbox kind {item.kind!r}"
        creates: dict[str, str | None] = {}
        if self.snap.create_missing_users and self.snap.identity == "external_id":
            subjects = {r.item.id: r.subject_id for r in claim.rows}
            for item in group_items:
                if item.identifier_type == "external_id" and item.identifier not in claim.seen:
                    self.subject_of[item.identifier] = subjects.get(item.id)
                    creates[item.identifier] = claim.emails.get(subjects.get(item.id) or -1)
        objects = plan_track_objects(
            track_items, creates, create_missing_users=self.snap.create_missing_users
        )
        calls = [
            _Call("users_track", track=chunk, row_ids=[r for o in chunk for r in o.row_ids])
            for chunk in chunks(objects, MAX_TRACK_OBJECTS)
        ] + [
            _Call("subscription_status_set", group=req, row_ids=list(req.row_ids))
            for req in plan_group_requests(group_items)
        ]
        lease_ends = claim.claimed_at + timedelta(seconds=outbox.LEASE_SECONDS / 2)
        for index, call in enumerate(calls):
            if self.deps.clock() > lease_ends:
                self._release(calls[index:], 0.0)
                break
            wait = self._take(call.endpoint)
            if wait > MAX_INLINE_WAIT_SECONDS:
                self._release(calls[index:], wait)
                break
            if wait > 0:
                self.sleep(wait)
            if not self._send(call):
                self._release(calls[index + 1 :], self._retry_after or 0.0)
                break
        braze_aliases.deliver(self, alias_rows)  # email-only visitors: Braze user aliases
        return self.outcome

    def _release(self, calls: Sequence[_Call], after: float) -> None:
        self.stopped = True
        at = self.deps.clock() + timedelta(seconds=after)
        for call in calls:
            for row_id in call.row_ids:
                self.outcome.released[row_id] = at

    def _name(self, endpoint: str) -> str:
        return f"{self.snap.bucket}:{endpoint}"

    def _take(self, endpoint: str) -> float:
        spec = bucket_spec(endpoint, self.snap.budget_share)
        return self.buckets.take(self._name(endpoint), spec, self.deps.clock().timestamp())

    def _correct(self, endpoint: str) -> None:
        rate = self.client.last_rate_limit
        if rate is None:
            return
        now = self.deps.clock().timestamp()
        spec = bucket_spec(endpoint, self.snap.budget_share)
        ceiling = ceiling_from_headers(
            spec,
            self.snap.budget_share,
            now,
            limit=rate.limit,
            remaining=rate.remaining,
            reset_at=rate.reset_at,
            retry_after=rate.retry_after,
        )
        if ceiling is not None:
            self.buckets.take(self._name(endpoint), spec, now, cost=0.0, ceiling=ceiling)

    def _send(self, call: _Call) -> bool:
        """Send one call; False when the round must stop (a retryable failure)."""
        self.client.last_rate_limit = None
        self.requests += 1
        try:
            if call.group is not None:
                self._send_group(call, call.group)
            else:
                self._send_track(call)
        except RetryableError as exc:
            self._retry_after = exc.retry_after
            hold = self._hold_seconds() if exc.ambiguous else None
            for row_id in call.row_ids:
                self.outcome.retry[row_id] = (str(exc), exc.retry_after)
                if hold is not None:
                    self.outcome.hold[row_id] = hold
            log.info("braze call to retry", extra={"connection_id": self.snap.id})
            return False
        except PermanentError as exc:
            self._dead_call(call, exc)
        finally:
            self._correct(call.endpoint)
        return True

    def _hold_seconds(self) -> float:
        """How long a key waits after an unanswered request: a straggler that Braze still
        applies arrives within a few client timeouts (its own processing is far shorter)."""
        timeout = getattr(self.client, "timeout", None)
        seconds = HOLD_TIMEOUTS * timeout if isinstance(timeout, int | float) else DEFAULT_HOLD
        return max(MIN_HOLD_SECONDS, float(seconds))

    def _send_group(self, call: _Call, req: GroupRequest) -> None:
        keep: list[tuple[str, int]] = []
        for ident, row_id in zip(req.identifiers, req.row_ids, strict=True):
            problem = (
                self.failed_creates.get(ident) if req.identifier_type == "external_id" else None
            )
            if problem:
                self.outcome.dead[row_id] = f"Braze could not create the user: {problem}"
            else:
                keep.append((ident, row_id))
        call.row_ids = [row_id for _, row_id in keep]
        if not keep:
            return
        key = "external_ids" if req.identifier_type == "external_id" else "emails"
        values = [ident for ident, _ in keep]
        self.client.subscription_status_set(req.group_id, req.state, **{key: values})
        self.outcome.sent.extend(call.row_ids)

    def _send_track(self, call: _Call) -> None:
        result = self.client.users_track(attributes=[o.attributes for o in call.track])
        self._apply_track_errors(call.track, result.errors, None)

    def _apply_track_errors(
        self, objects: Sequence[TrackObject], errors: list[ItemError], fatal: str | None
    ) -> None:
        by_index = {e.index: e.message for e in errors if e.input_array == "attributes"}
        unplaced = [e.message for e in errors if e.index < 0]
        for index, obj in enumerate(objects):
            problem = by_index.get(index) or (unplaced[0] if unplaced else None) or fatal
            if problem:
                for row_id in obj.row_ids:
                    self.outcome.dead[row_id] = f"Braze rejected the user update: {problem}"
                if obj.creates_user:
                    self.failed_creates[obj.identifier] = problem
                continue
            self.outcome.sent.extend(obj.row_ids)
            if obj.creates_user:
                self.outcome.created.append((obj.identifier, self.subject_of.get(obj.identifier)))

    def _dead_call(self, call: _Call, exc: PermanentError) -> None:
        log.warning("braze refused a call", extra={"connection_id": self.snap.id})
        if call.group is None:
            self._apply_track_errors(call.track, to_item_errors(exc.errors), str(exc))
            return
        for row_id in call.row_ids:
            self.outcome.dead[row_id] = f"Braze refused: {exc}"


def sweep_outbox(deps: Deps) -> dict[str, object]:
    """Release leases of workers that died mid-batch; enqueue every connection with due rows."""
    released = outbox.release_expired_leases(deps)
    connection_ids = outbox.connections_with_due_rows(deps)
    enqueue_propagation(deps, connection_ids)
    if released:
        log.warning("outbox rows released from expired leases", extra={"released": released})
    return {"released": released, "enqueued": connection_ids}
