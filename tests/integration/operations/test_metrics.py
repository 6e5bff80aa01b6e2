from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from flask.testing import FlaskClient

from backend.app import create_app
from backend.db.models import BrazeConnection, OutboxEntry
from backend.integrations.metrics_store import RedisCounters
from backend.services.admin_auth import create_api_token
from backend.services.deps import Deps
from backend.settings import Settings
from backend.wiring import build_deps
from tests.fakes.jobs import RecordingJobQueue

pytestmark = pytest.mark.integration


@pytest.fixture
def metrics_client(settings: Settings, redis_url: str) -> tuple[FlaskClient, Deps, str]:
    conn = redis_lib.Redis.from_url(redis_url)
    deps = build_deps(settings, redis=conn, jobs=RecordingJobQueue())
    app = create_app(settings, deps)
    token = create_api_token(deps, "prometheus")
    return app.test_client(), deps, token


def test_metrics_need_a_token(metrics_client: tuple[FlaskClient, Deps, str]) -> None:
    client, _, _ = metrics_client
    assert client.get("/metrics").status_code == 401


def test_metrics_report_outbox_lag_and_braze_calls(
    metrics_client: tuple[FlaskClient, Deps, str],
) -> None:
    client, deps, token = metrics_client
    now = datetime.now(UTC)
    with deps.session() as session:
        connection = BrazeConnection(
            code="c",
            name="c",
            rest_endpoint="https://rest.iad-01.braze.com",
            api_key_encrypted=deps.secrets.encrypt("k"),
        )
        session.add(connection)
        session.flush()
        for status, age in (("pending", 90), ("pending", 10), ("sent", 500), ("dead", 5)):
            session.add(
                OutboxEntry(
                    connection_id=connection.id,
                    kind="subscription_group",
                    target="g",
                    identifier_type="external_id",
                    identifier="u",
                    state="subscribed",
                    status=status,
                    created_at=now - timedelta(seconds=age),
                )
            )
    counters = deps.extras["metrics"]
    assert isinstance(counters, RedisCounters)
    counters.braze_response("/subscription/status/set", 201)
    counters.braze_response("/subscription/status/set", 201)
    counters.braze_response("/subscription/status/set", 429)
    body = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).get_data(
        as_text=True
    )
    assert 'optline_outbox_entries{status="pending"} 2' in body
    assert 'optline_outbox_entries{status="dead"} 1' in body
    lag_line = next(
        line for line in body.splitlines() if line.startswith("optline_sync_lag_seconds")
    )
    assert 89 <= float(lag_line.split()[1]) < 200
    assert 'optline_braze_requests_total{path="/subscription/status/set",status="201"} 2' in body
    assert "optline_braze_429_total 1" in body
