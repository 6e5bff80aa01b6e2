"""schemathesis against /api/openapi.json: no 5xx, and every answer is the one the document
promises (status code, content type, body schema, headers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine

from backend.app import create_app
from backend.services.admin_auth import create_api_token
from backend.services.configuration import apply_configuration
from backend.services.visitor_tokens import mint_token
from backend.settings import Settings
from backend.web import blueprints  # noqa: F401  (the API modules register their fragments)
from backend.web.openapi import build_document
from backend.web.security import limiter
from backend.wiring import build_deps
from tests.database import copy_template, truncate_all
from tests.fakes.jobs import RecordingJobQueue
from tests.hostile.conftest import PROPERTY, seed_document

pytestmark = pytest.mark.integration

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
METHODS = ("get", "post", "put", "patch", "delete")
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in build_document()["paths"].items()
    for method in item
    if method in METHODS and path.startswith("/api/")
)
# A fixed sequence by default (no flaky runs); OPTLINE_FUZZ_EXAMPLES=200 OPTLINE_FUZZ_RANDOM=1
# for a longer hunt with fresh examples.
FUZZ = settings(
    max_examples=int(os.environ.get("OPTLINE_FUZZ_EXAMPLES", "15")),
    derandomize=os.environ.get("OPTLINE_FUZZ_RANDOM") != "1",
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


class Target:
    def __init__(self, app: Flask, credentials: dict[str, str]) -> None:
        self.app, self.credentials = app, credentials
        self.schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)


@pytest.fixture(scope="module")
def target(
    database_server: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """One seeded app for every operation: setting it up per operation would triple the time."""
    root = tmp_path_factory.mktemp("fuzz")
    kind, value = database_server
    if kind == "postgresql":
        engine = create_engine(value.replace("postgresql://", "postgresql+psycopg://", 1))
        truncate_all(engine)
        engine.dispose()
        url = str(value)
    else:
        url = copy_template(value, root / "optline.db")
    (root / "instance").mkdir()
    config = Settings(
        env="development",
        instance_path=root / "instance",
        database_url=url,
        secret_key="fuzz-secret-key-not-for-production",
        encryption_key="fuzz-encryption-key",
        public_url="http://127.0.0.1:8000",
        allow_custom_braze_endpoints=True,
    )
    deps = build_deps(config, jobs=RecordingJobQueue())
    apply_configuration(deps, seed_document(), dry_run=False, prune=False, actor="test")
    app = create_app(config, deps)
    app.config["TESTING"] = True
    # Rate limits have their own tests; here they would only turn later examples into 429s.
    app.config["RATELIMIT_ENABLED"] = False
    limiter.enabled = False
    credentials = {
        "/api/admin/": create_api_token(deps, "fuzz"),
        "/api/public/": mint_token(deps, PROPERTY, "fuzz-visitor", email="f@example.com", ttl=3600),
    }
    yield Target(app, credentials)
    limiter.enabled = True
    bound = deps.sessions.kw.get("bind")
    if bound is not None:
        bound.dispose()


def test_the_document_lists_both_apis() -> None:
    paths = {path for _, path in OPERATIONS}
    assert any(p.startswith("/api/admin/v1/") for p in paths)
    assert any(p.startswith("/api/public/v1/") for p in paths)


def _aim_at_the_seeded_property(case: Any) -> None:
    """Half the cases name the seeded property, so the views past the lookup run too."""
    if hash(repr(case.body)) % 2:
        return
    if isinstance(case.path_parameters, dict) and "property" in case.path_parameters:
        case.path_parameters["property"] = PROPERTY
    if isinstance(case.body, dict) and isinstance(case.body.get("property"), str):
        case.body["property"] = PROPERTY


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_answers_as_documented(target: Target, method: str, path: str) -> None:
    operation = target.schema[path][method]
    # Braze's export callback carries its proof in the URL: no bearer token there.
    token = next((t for prefix, t in target.credentials.items() if path.startswith(prefix)), None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    @FUZZ
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        _aim_at_the_seeded_property(case)
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
