"""The one place that picks implementations from settings and builds ``Deps``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy.orm import Session

from backend.db.engine import build_engine, build_session_factory
from backend.db.models import BrazeConnection, BrazeRequestRecord
from backend.domain.errors import NotFoundError
from backend.integrations.braze import BrazeClient
from backend.integrations.braze_sandbox import SandboxBrazeClient
from backend.integrations.s3 import S3ObjectStore, store_for_connection
from backend.integrations.secret_box import SecretBox
from backend.services.deps import Deps
from backend.settings import Settings


def utc_clock() -> datetime:
    return datetime.now(UTC)


def build_deps(settings: Settings, **overrides: Any) -> Deps:
    """Build every dependency from settings; tests pass overrides for fakes."""
    engine = overrides.pop("engine", None) or build_engine(settings.database_url)
    sessions = build_session_factory(engine)
    secrets = SecretBox(settings.encryption_key)
    deps = Deps(
        settings=settings,
        sessions=sessions,
        secrets=secrets,
        clock=overrides.pop("clock", utc_clock),
        braze_factory=lambda session, connection_id: build_braze_client(
            deps, session, connection_id
        ),
    )
    redis_conn = overrides.pop("redis", None)
    if redis_conn is None and settings.redis_url:
        redis_conn = redis.Redis.from_url(settings.redis_url)
    deps.redis = redis_conn
    if redis_conn is not None:
        from backend.integrations.metrics_store import RedisCounters

        deps.extras["metrics"] = RedisCounters(redis_conn)
    deps.object_store_factory = lambda session, connection_id: build_object_store(
        deps, session, connection_id
    )
    if redis_conn is not None and "jobs" not in overrides:
        from backend.jobs.queue import RQJobQueue

        deps.jobs = RQJobQueue(redis_conn)
    for name, value in overrides.items():
        setattr(deps, name, value)
    return deps


def build_object_store(deps: Deps, session: Session, connection_id: int) -> S3ObjectStore:
    """The S3 bucket of a Braze connection: where Braze exports segments, where CDI files go."""
    connection = session.get(BrazeConnection, connection_id)
    if connection is None:
        raise NotFoundError(f"Braze connection {connection_id} does not exist")
    return store_for_connection(connection, deps.secrets)


def build_braze_client(deps: Deps, session: Session, connection_id: int) -> BrazeClient:
    """The Braze client of one connection: a sandbox one records requests instead of sending."""
    connection = session.get(BrazeConnection, connection_id)
    if connection is None:
        raise NotFoundError(f"Braze connection {connection_id} does not exist")
    api_key = deps.secrets.decrypt(connection.api_key_encrypted)
    if connection.sandbox:

        def record(
            method: str, path: str, body: dict[str, Any] | None, query: dict[str, Any] | None
        ) -> None:
            # A session of its own: the record stays even if the caller's work rolls back.
            with deps.session() as rec_session:
                rec_session.add(
                    BrazeRequestRecord(
                        connection_id=connection_id,
                        method=method,
                        path=path,
                        body=body,
                        query=query,
                    )
                )

        return SandboxBrazeClient(
            recorder=record, rest_endpoint=connection.rest_endpoint, api_key=api_key
        )
    counters = deps.extras.get("metrics")
    return BrazeClient(
        rest_endpoint=connection.rest_endpoint,
        api_key=api_key,
        observer=counters.braze_response if counters is not None else None,
    )
