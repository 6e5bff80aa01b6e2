"""Nothing is lost: Redis down while visitors save, a worker killed mid-batch, RQ end to end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import select

from backend.db import models
from backend.domain.rate_budget import bucket_spec, take
from backend.integrations.rate_limiter import RedisTokenBuckets
from backend.jobs.queue import QUEUE_BRAZE, RQJobQueue
from backend.services import outbox, propagation
from backend.services.deps import Deps
from backend.wiring import utc_clock
from tests.fakes.braze_fake import BrazeFake
from tests.integration.preferences.conftest import GROUPS, PROPERTY, auth, connection_id, token

pytestmark = pytest.mark.integration
NEWS_EMAIL = GROUPS[("newsletter", "email")]


def save(client: FlaskClient, sub: str, state: str = "subscribed") -> int:
    body = {
        "property": PROPERTY,
        "changes": [{"subscription": "newsletter", "channel": "email", "state": state}],
    }
    return client.post(
        "/api/public/v1/preferences", json=body, headers=auth(token(sub))
    ).status_code


def work(conn: redis.Redis) -> None:
    SimpleWorker([QUEUE_BRAZE], connection=conn).work(burst=True)


def statuses(deps: Deps) -> list[str]:
    with deps.session() as session:
        return list(
            session.scalars(select(models.OutboxEntry.status).order_by(models.OutboxEntry.id))
        )


def test_saves_go_through_rq_on_real_redis(
    client: FlaskClient, job_deps: Deps, braze: BrazeFake, redis_url: str
) -> None:
    conn = redis.Redis.from_url(redis_url)
    job_deps.jobs, job_deps.redis = RQJobQueue(conn), conn
    assert save(client, "user-1") == 200
    work(conn)
    assert braze.group_state(NEWS_EMAIL, external_id="user-1") == "subscribed"
    assert statuses(job_deps).count("sent") == 2  # the group change and the user creation record


def test_redis_down_every_save_succeeds_and_the_sweeper_delivers_later(
    client: FlaskClient, job_deps: Deps, braze: BrazeFake, redis_url: str
) -> None:
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    job_deps.jobs, job_deps.redis = RQJobQueue(dead), dead
    assert [save(client, f"user-{n}") for n in range(10)] == [200] * 10
    assert braze.requests == [] and statuses(job_deps) == ["pending"] * 10
    # Redis is back: the sweeper (on its schedule) enqueues, a worker delivers.
    conn = redis.Redis.from_url(redis_url)
    job_deps.jobs, job_deps.redis = RQJobQueue(conn), conn
    conn.flushdb()
    from backend.jobs.sweeper import sweep_outbox_job

    sweep_outbox_job()
    work(conn)
    assert all(
        braze.group_state(NEWS_EMAIL, external_id=f"user-{n}") == "subscribed" for n in range(10)
    )
    assert "pending" not in statuses(job_deps)


def test_a_worker_killed_mid_batch_loses_nothing(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    for n in range(5):
        save(client, f"user-{n}")
    cid = connection_id(configured)
    claim = outbox.claim(configured, cid)  # a worker takes the batch... and dies
    assert len(claim.rows) == 5 and set(statuses(configured)) == {"in_flight"}
    # Before the lease runs out nobody else sends those rows.
    assert propagation.sweep_outbox(configured)["released"] == 0
    assert propagation.propagate_connection(configured, cid).requests == 0
    save(client, "user-0", "unsubscribed")  # a newer change waits for the in-flight one
    assert propagation.propagate_connection(configured, cid).requests == 0
    later = utc_clock() + timedelta(seconds=outbox.LEASE_SECONDS + 1)
    configured.clock = lambda: later
    swept = propagation.sweep_outbox(configured)
    assert swept == {"released": 5, "enqueued": [cid]}
    report = propagation.propagate_connection(configured, cid, rand=lambda: 0.0)
    assert report.sent == 5 and report.dead == 0
    assert braze.group_state(NEWS_EMAIL, external_id="user-0") == "unsubscribed"
    assert all(
        braze.group_state(NEWS_EMAIL, external_id=f"user-{n}") == "subscribed" for n in range(1, 5)
    )
    assert set(statuses(configured)) <= {"sent", "superseded"}


def test_the_sweeper_is_scheduled_every_15_seconds() -> None:
    from backend.jobs import cron, schedules
    from tests.fakes.jobs import RecordingJobQueue

    schedules.register_all()
    entry = next(e for e in cron.entries() if e.name == "outbox-sweep")
    assert entry.every_seconds == 15
    jobs = RecordingJobQueue()
    entry.enqueue(jobs)
    assert [(c.func, c.queue, c.job_id) for c in jobs.calls] == [
        ("backend.jobs.sweeper.sweep_outbox_job", "braze", "outbox-sweep")
    ]


def test_retries_are_rescheduled_for_when_they_are_due(
    client: FlaskClient, configured: Deps, braze: BrazeFake, jobs: Any
) -> None:
    braze.fail_all("/subscription/status/set", 503)
    save(client, "user-1")
    jobs.calls.clear()
    propagation.propagate_connection(configured, connection_id(configured), rand=lambda: 1.0)
    (call,) = jobs.calls
    assert call.func == propagation.JOB_PATH and call.queue == "braze"
    assert call.job_id.startswith(f"propagate-{connection_id(configured)}-at-")
    assert 0 < call.delay <= 2.0  # first backoff: up to 2 s


def test_the_redis_bucket_matches_the_domain_math(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    buckets = RedisTokenBuckets(conn)
    spec = bucket_spec("subscription_status_set", 0.01)  # 50/min: capacity 2.5
    state, expected, got = None, [], []
    for now in (100.0, 100.0, 100.0, 100.5, 101.0, 130.0):
        state, wait = take(state, now, spec)
        expected.append(wait)
        got.append(buckets.take("test-ws:subscription_status_set", spec, now))
    assert got == pytest.approx(expected)
    assert got[1] == 0.0 and got[2] > 0  # the burst (2.5 tokens), then waiting
    corrected = buckets.take(
        "test-ws:subscription_status_set",
        spec,
        130.0,
        cost=0.0,
        ceiling=-10 * spec.refill_per_second,
    )
    assert corrected == pytest.approx(10.0)
