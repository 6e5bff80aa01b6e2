"""Visitors known only by email on a connection that identifies users by external id: their
choices go to a Braze user alias (alias_label "optline_email", alias_name = the address).

``/subscription/status/set`` cannot address aliases (braze_api.md §2.1), so these changes are
outbox rows of their own kind ("alias_subscription"), sent by ``deliver`` from propagation's
sender: the alias is created once per connection with ``/users/alias/new`` (§4, ≤ 50 a call;
remembered as a sent "alias" outbox row, and in ``Subject.braze_alias``), then each alias gets
one ``/users/track`` attributes object (§1.2, ≤ 75 a call) with ``user_alias``,
``_update_existing_only: false`` (an alias object is update-only by default), ``email`` (so Braze
can deliver to it) and its ``subscription_groups`` / global ``email_subscribe``/``push_subscribe``.

The alias name is the address itself rather than a hash: Braze needs the address on the profile
to send email anyway, and operators can find the profile by it. Braze advises a pause between
``/users/alias/new`` and a dependent ``/users/track`` (§0.5); the track object may create the
alias profile itself, so nothing is lost if the alias is not visible yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select, update

from backend.db.models import OutboxEntry, Subject
from backend.domain import rights as limits
from backend.domain.errors import PermanentError, RetryableError
from backend.domain.outbox_plan import KIND_GROUP, MAX_TRACK_OBJECTS, TRACK_KINDS, chunks
from backend.domain.rate_budget import BucketSpec, bucket_spec
from backend.integrations.braze_responses import to_item_errors
from backend.services.outbox import ClaimedRow, new_row

log = logging.getLogger(__name__)

KIND = "alias_subscription"
KIND_ALIAS = "alias"
ALIAS_LABEL = "optline_email"
MAX_ALIASES = 50
MAX_INLINE_WAIT_SECONDS = 5.0


def alias_name(email: str) -> str:
    return email.strip().lower()


def outbox_row(
    subject: Subject,
    connection_id: int,
    now: datetime,
    *,
    kind: str,
    target: str,
    state: str,
    payload: dict[str, object],
) -> dict[str, Any]:
    """The outbox row (its column values) of a change for an email-only subject; ``target`` is
    the group id, or the global attribute's name, so changes to different attributes never
    coalesce."""
    assert subject.email
    return new_row(
        connection_id=connection_id,
        subject_id=subject.id,
        kind=KIND,
        target=target if kind == KIND_GROUP else kind,
        identifier_type="alias",
        identifier=alias_name(subject.email),
        state=state,
        payload={**payload, "attribute": kind},
        status="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )


def deliver(sender: Any, rows: Sequence[ClaimedRow]) -> None:
    """Send the claim's alias rows with propagation's sender: its client, budget and outcome."""
    if not rows:
        return
    if sender.stopped:
        _release(sender, rows, 0.0)
        return
    by_alias: dict[str, list[ClaimedRow]] = {}
    for row in rows:
        by_alias.setdefault(row.item.identifier, []).append(row)
    known = _known_aliases(sender, sorted(by_alias))
    missing = [name for name in by_alias if name not in known]
    for chunk in chunks(missing, MAX_ALIASES):
        names = list(chunk)
        group = [r for name in names for r in by_alias[name]]
        create = partial(_create, sender, names, by_alias)
        if not _send(sender, "users_alias_new", group, rows, create):
            return
    ready = [name for name in by_alias if not any(_decided(sender, r) for r in by_alias[name])]
    for chunk in chunks(ready, MAX_TRACK_OBJECTS):
        names = list(chunk)
        group = [r for name in names for r in by_alias[name]]
        track = partial(_track, sender, names, by_alias)
        if not _send(sender, "users_track", group, rows, track):
            return


def _spec(sender: Any, endpoint: str) -> BucketSpec:
    if endpoint == "users_track":
        return bucket_spec("users_track", sender.snap.budget_share)
    return limits.bucket(limits.IDENTITY_LIMIT, sender.snap.budget_share)


def _send(
    sender: Any,
    endpoint: str,
    chunk: Sequence[ClaimedRow],
    every: Sequence[ClaimedRow],
    send: Callable[[], None],
) -> bool:
    """One call within the workspace's budget; False when the round must stop."""
    now = sender.deps.clock().timestamp()
    wait = sender.buckets.take(f"{sender.snap.bucket}:{endpoint}", _spec(sender, endpoint), now)
    undecided = [r for r in every if not _decided(sender, r)]
    if wait > MAX_INLINE_WAIT_SECONDS:
        _release(sender, undecided, wait)
        return False
    if wait > 0:
        sender.sleep(wait)
    sender.requests += 1
    try:
        send()
    except RetryableError as exc:
        for row in chunk:
            sender.outcome.retry[row.item.id] = (str(exc), exc.retry_after)
        _release(sender, [r for r in undecided if r not in chunk], exc.retry_after or 0.0)
        sender.stopped = True
        log.info("braze alias call to retry", extra={"connection_id": sender.snap.id})
        return False
    except PermanentError as exc:
        errors = {e.index: e.message for e in to_item_errors(exc.errors)}
        for row in chunk:
            sender.outcome.dead[row.item.id] = f"Braze refused: {errors.get(-1) or exc}"
    return True


def _decided(sender: Any, row: ClaimedRow) -> bool:
    out = sender.outcome
    return any(row.item.id in d for d in (out.sent, out.retry, out.dead, out.released))


def _release(sender: Any, rows: Sequence[ClaimedRow], after: float) -> None:
    sender.stopped = True
    at = sender.deps.clock() + timedelta(seconds=after)
    for row in rows:
        sender.outcome.released[row.item.id] = at


def _known_aliases(sender: Any, names: list[str]) -> set[str]:
    with sender.deps.session() as session:
        return set(
            session.scalars(
                select(OutboxEntry.identifier).where(
                    OutboxEntry.connection_id == sender.snap.id,
                    OutboxEntry.kind == KIND_ALIAS,
                    OutboxEntry.status == "sent",
                    OutboxEntry.identifier.in_(names),
                )
            )
        )


def _create(sender: Any, names: list[str], by_alias: dict[str, list[ClaimedRow]]) -> None:
    sender.client.users_alias_new(
        [{"alias_name": name, "alias_label": ALIAS_LABEL} for name in names]
    )
    now = sender.deps.clock()
    with sender.deps.session() as session:
        for name in names:
            subject_id = by_alias[name][0].subject_id
            session.add(
                OutboxEntry(
                    connection_id=sender.snap.id,
                    subject_id=subject_id,
                    kind=KIND_ALIAS,
                    target=ALIAS_LABEL,
                    identifier_type="alias",
                    identifier=name,
                    state="",
                    status="sent",
                    attempts=1,
                    created_at=now,
                    next_attempt_at=now,
                    sent_at=now,
                )
            )
            session.execute(
                update(Subject)
                .where(Subject.id.in_({r.subject_id for r in by_alias[name] if r.subject_id}))
                .values(braze_alias=name)
            )


def _track(sender: Any, names: list[str], by_alias: dict[str, list[ClaimedRow]]) -> None:
    objects: list[dict[str, Any]] = []
    for name in names:
        attributes: dict[str, Any] = {
            "user_alias": {"alias_name": name, "alias_label": ALIAS_LABEL},
            "_update_existing_only": False,
            "email": name,
        }
        for row in sorted(by_alias[name], key=lambda r: r.item.id):
            if row.item.target in TRACK_KINDS:
                attributes[row.item.target] = row.item.state
            else:
                attributes.setdefault("subscription_groups", []).append(
                    {"subscription_group_id": row.item.target, "subscription_state": row.item.state}
                )
        objects.append(attributes)
    result = sender.client.users_track(attributes=objects)
    problems = {e.index: e.message for e in result.errors if e.input_array == "attributes"}
    unplaced = [e.message for e in result.errors if e.index < 0]
    for index, name in enumerate(names):
        problem = problems.get(index) or (unplaced[0] if unplaced else None)
        for row in by_alias[name]:
            if problem:
                sender.outcome.dead[row.item.id] = f"Braze rejected the alias update: {problem}"
            else:
                sender.outcome.sent.append(row.item.id)
