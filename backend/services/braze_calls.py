"""Braze calls for rights requests, email states and reconciliation: a client per connection,
spent within the workspace's token bucket (the one propagation uses, in Redis when configured),
and retried in place a few times when Braze answers 429/5xx.

A failure that outlasts the in-place retries leaves as ``RetryableError``: the job that made the
call fails and RQ (or the next periodic run) tries again later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select

from backend.db.models import BrazeConnection
from backend.domain.errors import NotFoundError, RetryableError
from backend.domain.rate_budget import BucketSpec, ceiling_from_headers
from backend.integrations.braze import BrazeClient
from backend.integrations.rate_limiter import token_buckets, workspace_key
from backend.services.deps import Deps
from backend.services.sync_common import sleeper

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTEMPTS = 5
MAX_WAIT_SECONDS = 65.0  # a 429 of a per-minute limit resets within a minute


@dataclass
class BrazeLink:
    """One Braze connection, ready to call."""

    id: int
    code: str
    identity: str
    sandbox: bool
    share: float
    bucket: str
    client: BrazeClient


def find_connection(deps: Deps, code_or_id: str | int) -> tuple[int, str]:
    """(id, code) of a Braze connection named by code or id; NotFoundError otherwise."""
    with deps.session() as session:
        query = select(BrazeConnection.id, BrazeConnection.code)
        if isinstance(code_or_id, int) or (isinstance(code_or_id, str) and code_or_id.isdigit()):
            found = session.execute(query.where(BrazeConnection.id == int(code_or_id))).first()
            if found is None and isinstance(code_or_id, str):
                found = session.execute(query.where(BrazeConnection.code == code_or_id)).first()
        else:
            found = session.execute(query.where(BrazeConnection.code == code_or_id)).first()
    if found is None:
        raise NotFoundError(f"Braze connection {code_or_id!r} does not exist")
    return int(found.id), str(found.code)


def connection_ids(deps: Deps) -> list[int]:
    with deps.session() as session:
        return list(session.scalars(select(BrazeConnection.id).order_by(BrazeConnection.id)))


@contextmanager
def open_link(deps: Deps, connection_id: int) -> Iterator[BrazeLink]:
    with deps.session() as session:
        connection = session.get(BrazeConnection, connection_id)
        if connection is None:
            raise NotFoundError(f"Braze connection {connection_id} does not exist")
        api_key = deps.secrets.decrypt(connection.api_key_encrypted)
        link = BrazeLink(
            id=connection.id,
            code=connection.code,
            identity=connection.identity,
            sandbox=connection.sandbox,
            share=connection.budget_share,
            bucket=workspace_key(connection.rest_endpoint, api_key),
            client=deps.braze_factory(session, connection_id),
        )
    try:
        yield link
    finally:
        link.client.close()


def call(
    deps: Deps,
    link: BrazeLink,
    endpoint: str,
    spec: BucketSpec | None,
    send: Callable[[], T],
) -> T:
    """Wait for a token of ``endpoint``'s bucket, send, correct the bucket from Braze's headers;
    on 429/5xx wait as Braze asked (or back off) and try again, up to ATTEMPTS times."""
    sleep = sleeper(deps)
    buckets = token_buckets(deps.redis)
    name = f"{link.bucket}:{endpoint}"

    def correct() -> None:
        rate = link.client.last_rate_limit
        if spec is None or rate is None:
            return
        now = deps.clock().timestamp()
        ceiling = ceiling_from_headers(
            spec,
            link.share,
            now,
            limit=rate.limit,
            remaining=rate.remaining,
            reset_at=rate.reset_at,
            retry_after=rate.retry_after,
        )
        if ceiling is not None:
            buckets.take(name, spec, now, cost=0.0, ceiling=ceiling)

    attempt = 0
    while True:
        if spec is not None:
            wait = buckets.take(name, spec, deps.clock().timestamp())
            if wait > 0:
                sleep(min(wait, MAX_WAIT_SECONDS))
        link.client.last_rate_limit = None
        try:
            result = send()
        except RetryableError as exc:
            correct()
            attempt += 1
            wait = exc.retry_after if exc.retry_after is not None else min(2.0**attempt, 30.0)
            if attempt >= ATTEMPTS or wait > MAX_WAIT_SECONDS:
                raise
            log.info(
                "braze call retried",
                extra={"connection_id": link.id, "endpoint": endpoint, "attempt": attempt},
            )
            if spec is None or exc.retry_after is None:
                sleep(max(wait, 0.05))  # otherwise the corrected bucket makes the next take wait
            continue
        correct()
        return result
