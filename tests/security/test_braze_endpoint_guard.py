"""Without OPTLINE_ALLOW_CUSTOM_BRAZE_ENDPOINTS only Braze's REST hosts may be stored, through the
configuration file and the admin API alike: no request can be aimed at an internal address."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from backend.app import create_app
from backend.db.models import BrazeConnection
from backend.domain.errors import ValidationError
from backend.services.admin_auth import create_api_token
from backend.services.configuration import apply_configuration
from backend.services.deps import Deps
from backend.settings import Settings
from backend.wiring import build_deps
from tests.fakes.jobs import RecordingJobQueue
from tests.hostile.conftest import seed_document

pytestmark = pytest.mark.integration
HOSTILE = [
    "http://169.254.169.254",
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254",
    "https://rest.iad-01.braze.com.evil.com",
    "https://user@rest.iad-01.braze.com",
    "https://rest.iad-01.braze.com@evil.com",
    "https://evil.com#@rest.iad-01.braze.com",
    "https://evil.com\\@rest.iad-01.braze.com",
    "file:///etc/passwd",
    "gopher://rest.iad-01.braze.com",
    "http://rest.iad-01.braze.com",
    "https://localhost",
    "https://127.0.0.1:6379",
    "https://[::1]",
    "//rest.iad-01.braze.com",
    "https://rest.iad-01.braze.com:6379",
    "https://rest.iad-01.braze.com/../admin",
]


@pytest.fixture
def strict(settings: Settings) -> Iterator[Deps]:
    built = build_deps(
        dataclasses.replace(settings, allow_custom_braze_endpoints=False), jobs=RecordingJobQueue()
    )
    yield built
    engine = built.sessions.kw.get("bind")
    if engine is not None:
        engine.dispose()


def connections(deps: Deps) -> int:
    with deps.session() as session:
        return session.query(BrazeConnection).count()


def document_with(endpoint: str, sandbox: bool) -> dict[str, object]:
    doc = seed_document()
    doc["braze_connections"][0].update(rest_endpoint=endpoint, sandbox=sandbox)
    return doc


@pytest.mark.parametrize("sandbox", [False, True])
@pytest.mark.parametrize("endpoint", HOSTILE)
def test_the_configuration_refuses_the_endpoint(strict: Deps, endpoint: str, sandbox: bool) -> None:
    with pytest.raises(ValidationError) as refused:
        apply_configuration(
            strict, document_with(endpoint, sandbox), dry_run=False, prune=False, actor="test"
        )
    assert "rest_endpoint" in str(refused.value.errors) or "endpoint" in str(refused.value)
    assert connections(strict) == 0  # nothing at all is written (all or nothing)


@pytest.mark.parametrize("endpoint", HOSTILE)
def test_the_admin_api_refuses_the_endpoint(strict: Deps, endpoint: str) -> None:
    app = create_app(strict.settings, strict)
    app.config["TESTING"] = True
    client: FlaskClient = app.test_client()
    auth = {"Authorization": "Bearer " + create_api_token(strict, "ssrf")}
    body = dict(seed_document()["braze_connections"][0], rest_endpoint=endpoint, sandbox=False)
    created = client.post("/api/admin/v1/braze_connections", json=body, headers=auth)
    assert created.status_code == 400, created.get_json()
    assert created.get_json()["error"]["code"] == "invalid"
    assert connections(strict) == 0


def test_a_published_braze_host_is_still_accepted(strict: Deps) -> None:
    apply_configuration(
        strict,
        document_with("https://rest.fra-02.braze.eu/", False),
        dry_run=False,
        prune=False,
        actor="test",
    )
    assert connections(strict) == 1
