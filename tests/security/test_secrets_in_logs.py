"""Secrets and visitor tokens never reach the logs, at DEBUG, on the paths that handle them:
configuration apply (file and API), connection test, saves, token refusals and propagation."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.services import propagation
from backend.services.admin_auth import create_api_token
from backend.services.configuration import apply_configuration
from backend.services.deps import Deps
from backend.services.visitor_tokens import mint_token
from tests.fakes.braze_fake import BrazeFake
from tests.hostile.conftest import PROPERTY, seed_document
from tests.security.conftest import claims, sign_hs256

pytestmark = pytest.mark.integration
API_KEY = "braze-api-key-SECRET-7d1e0c4b9a8f6e5d4c3b2a19"
S3_SECRET = "s3-secret-SECRET-wJalrXUtnFEMIK7MDENGbPxRfiCY"
SIGNING_SECRET = "signing-secret-SECRET-3a9f0c1d2e8b7a6f5e4d3c2b1a"


@pytest.fixture
def braze() -> Iterator[BrazeFake]:
    fake = BrazeFake().start()
    fake.add_key(API_KEY)
    for channel in seed_document()["subscriptions"][0]["channels"]:
        fake.add_subscription_group(channel["subscription_group_id"])
    yield fake
    fake.stop()


def secret_document(endpoint: str) -> dict[str, Any]:
    doc = seed_document()
    doc["braze_connections"][0].update(
        rest_endpoint=endpoint,
        api_key=API_KEY,
        sandbox=False,
        s3={
            "bucket": "acme-exports",
            "prefix": "optline/",
            "region": "us-east-1",
            "endpoint_url": None,
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "secret_access_key": S3_SECRET,
        },
    )
    doc["properties"][0]["signing_keys"] = [{"kid": "k1", "secret": SIGNING_SECRET}]
    return doc


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.__dict__))  # structured extras (json logs) too
    return "\n".join(parts)


def test_no_secret_or_token_is_logged(
    client: FlaskClient, deps: Deps, braze: BrazeFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("", "backend", "urllib3", "werkzeug", "sqlalchemy.engine"):
        caplog.set_level(logging.DEBUG, logger=name)
    apply_configuration(deps, secret_document(braze.url), dry_run=True, prune=False, actor="test")
    apply_configuration(deps, secret_document(braze.url), dry_run=False, prune=False, actor="test")
    admin = {"Authorization": "Bearer " + (admin_token := create_api_token(deps, "logs"))}
    # The admin API: read the config back, put it again, test the connection (a real call).
    assert client.get("/api/admin/v1/config", headers=admin).status_code == 200
    posted = client.post("/api/admin/v1/config", json=secret_document(braze.url), headers=admin)
    assert posted.status_code == 200, posted.get_json()
    tested = client.post("/api/admin/v1/braze_connections/braze-main/test", headers=admin)
    assert tested.status_code == 200, tested.get_json()
    # The widget: a save with a good token, then refusals with a forged and an expired one.
    visitor = mint_token(deps, PROPERTY, "user-1", email="jane@example.com", ttl=600)
    forged = sign_hs256(claims(), "not-the-secret-at-all-0123456789")
    expired = sign_hs256(claims(iat=1, exp=2), SIGNING_SECRET)
    change = {"subscription": "newsletter", "channel": "email", "state": "subscribed"}
    saved = client.post(
        "/api/public/v1/preferences",
        json={"property": PROPERTY, "changes": [change]},
        headers={"Authorization": f"Bearer {visitor}"},
    )
    assert saved.status_code == 200, saved.get_json()
    for bad in (forged, expired):
        refused = client.post(
            "/api/public/v1/bootstrap",
            json={"property": PROPERTY, "token": bad},
        )
        assert refused.status_code == 401
    # Propagation to Braze (the fake, over HTTP).
    with deps.session() as session:
        from sqlalchemy import select

        from backend.db.models import BrazeConnection

        connection_id = session.scalar(select(BrazeConnection.id))
    assert connection_id is not None
    propagation.propagate_connection(deps, connection_id, rand=lambda: 0.0)
    assert braze.requests, "propagation reached Braze"
    assert caplog.records, "the paths above logged something, so the check below means something"
    text = logged_text(caplog)
    for secret in (API_KEY, S3_SECRET, SIGNING_SECRET, visitor, forged, expired, admin_token):
        assert secret not in text, f"a secret reached the logs: {secret[:12]}…"
    # Not even a token's signature part (the last segment) on its own.
    for token in (visitor, forged, expired):
        assert token.rsplit(".", 1)[1] not in text
