"""Rights jobs through real RQ on a real Redis: enqueued after commit, retried by RQ, and paced
by the Redis token bucket the propagation uses."""

from __future__ import annotations

import pytest
import redis
from flask.testing import FlaskClient
from rq import SimpleWorker

from backend.jobs.queue import QUEUE_DEFAULT, RQJobQueue
from backend.services.deps import Deps
from tests.fakes.braze_fake import BrazeFake, Fault
from tests.integration.rights.conftest import ADMIN

pytestmark = pytest.mark.integration


def test_an_access_request_runs_on_rq_and_a_braze_outage_is_retried_by_rq(
    client: FlaskClient,
    job_deps: Deps,
    braze: BrazeFake,
    admin: dict[str, str],
    redis_url: str,
    no_sleep: list[float],
) -> None:
    conn = redis.Redis.from_url(redis_url)
    job_deps.jobs, job_deps.redis = RQJobQueue(conn), conn
    braze.script("/users/export/ids", [Fault(status=503)] * 5)  # outlasts the in-place retries
    created = client.post(
        f"{ADMIN}/rights-requests", json={"type": "access", "external_id": "ada"}, headers=admin
    ).get_json()
    SimpleWorker([QUEUE_DEFAULT], connection=conn).work(burst=True)
    read = client.get(f"{ADMIN}/rights-requests/{created['id']}", headers=admin).get_json()
    assert read["status"] == "received"  # back, with RQ's retry scheduled
    queue = RQJobQueue(conn).queue(QUEUE_DEFAULT)
    scheduled = queue.scheduled_job_registry.get_job_ids()
    assert len(scheduled) == 1 and scheduled[0].startswith("rights-request-")
    retry = queue.fetch_job(scheduled[0])
    assert retry is not None
    queue.enqueue_job(retry)  # what RQ's scheduler does when the retry is due
    SimpleWorker([QUEUE_DEFAULT], connection=conn).work(burst=True)
    done = client.get(f"{ADMIN}/rights-requests/{created['id']}", headers=admin).get_json()
    assert done["status"] == "completed" and done["download_url"]
    assert conn.keys("optline:bucket:*")  # the export was paced by the shared Redis bucket
