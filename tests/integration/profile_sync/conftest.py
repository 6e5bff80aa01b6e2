"""Fixtures for profile sync: a configuration with segments and a sync connection, an admin API
token, fake engines that record what they were asked to do, and the CLI on the test database.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from backend.db.models import SyncRun, SyncRunError
from backend.services.admin_auth import create_api_token
from backend.services.configuration import apply_configuration
from backend.services.deps import Deps
from backend.services.sync_runs import ENGINES
from backend.settings import Settings

GROUP_ID = "3b2c1d4e-0000-4000-8000-000000000001"
CONFIG: dict[str, Any] = {
    "braze_connections": [
        {
            "code": "braze-main",
            "name": "Braze",
            "rest_endpoint": "https://rest.iad-03.braze.com",
            "api_key": "test-api-key",
            "sandbox": True,
            "s3": {"bucket": "acme-exports", "prefix": "optline/"},
        }
    ],
    "subscriptions": [
        {
            "code": "newsletter",
            "name": "Newsletter",
            "channels": [
                {"channel": "email", "connection": "braze-main", "subscription_group_id": GROUP_ID}
            ],
        }
    ],
    "segments": [
        {
            "code": "vip",
            "name": "VIP customers",
            "rule": {
                "all": [
                    {"property": "tier", "op": "eq", "value": "gold"},
                    {"property": "country", "op": "in", "value": ["ES", "MX"]},
                ]
            },
        },
        {
            "code": "vip-es",
            "name": "VIP in Spain",
            "rule": {
                "all": [{"segment": "vip"}, {"property": "country", "op": "eq", "value": "ES"}]
            },
        },
    ],
    "sync_connections": [
        {
            "code": "braze-profiles",
            "braze_connection": "braze-main",
            "enabled": True,
            "schedule": {"times_per_day": 4},
            "notify": {"emails": ["ops@acme.com"], "on": ["failure"], "webhook": None},
            "import_goals": [
                {
                    "code": "braze-loyalty",
                    "braze_segment_id": "00000000-aaaa-bbbb-cccc-000000000001",
                    "identifiers": [{"braze": "external_id", "profile": "external_id"}],
                    "allow_create": True,
                    "mappings": [
                        {
                            "braze": "first_name",
                            "profile": "first_name",
                            "strategy": "set_if_empty",
                        },
                        {"braze": "loyalty_points", "profile": "points", "strategy": "sum"},
                        {"braze": "interests", "profile": "interests", "strategy": "add"},
                    ],
                    "remaining_fields": {"enabled": True, "prefix": "braze_", "strategy": "set"},
                }
            ],
            "export_goals": [
                {
                    "code": "vip-to-braze",
                    "segment": "vip",
                    "identifiers": [{"profile": "external_id", "braze": "external_id"}],
                    "create_if_missing": False,
                    "mappings": [
                        {"source": "property", "name": "tier", "braze": "tier"},
                        {"source": "segments", "braze": "optline_segments"},
                        {"source": "permissions", "braze": "optline_permissions"},
                        {"source": "static", "value": "optline", "braze": "source_system"},
                    ],
                }
            ],
        }
    ],
}


def config(**changes: Any) -> dict[str, Any]:
    """A deep copy of CONFIG with top-level sections replaced."""
    document = copy.deepcopy(CONFIG)
    document.update(changes)
    return document


@pytest.fixture
def configured(deps: Deps) -> Deps:
    apply_configuration(deps, config(), dry_run=False, prune=False, actor="test")
    return deps


@pytest.fixture
def token(deps: Deps) -> str:
    return create_api_token(deps, "tests")


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class FakeEngine:
    """Stands in for the import/export engines: records calls, writes counts and errors."""

    counts: dict[str, int] = field(
        default_factory=lambda: {"checked": 3, "updated": 2, "unchanged": 1}
    )
    errors: list[dict[str, Any]] = field(default_factory=list)
    fail_with: Exception | None = None
    calls: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    during: Callable[[Deps, int], None] | None = None

    def engine(self, kind: str) -> Callable[[Deps, int], None]:
        def run(deps: Deps, run_id: int) -> None:
            with deps.session() as session:
                run = session.get(SyncRun, run_id)
                assert run is not None and run.status == "running"
                self.calls.append((kind, run_id, dict(run.checkpoint or {})))
            if self.during is not None:
                self.during(deps, run_id)
            if self.fail_with is not None:
                raise self.fail_with
            with deps.session() as session:
                session.execute(
                    update(SyncRun)
                    .where(SyncRun.id == run_id)
                    .values(counts=dict(self.counts), heartbeat_at=deps.clock())
                )
                for error in self.errors:
                    session.add(SyncRunError(run_id=run_id, **error))

        return run


@pytest.fixture
def engines(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """Fake engines for the deps of the test and for the CLI's own deps."""
    fake = FakeEngine()
    monkeypatch.setitem(ENGINES, "import", fake.engine("import"))
    monkeypatch.setitem(ENGINES, "export", fake.engine("export"))
    return fake


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The ``optline`` command builds its own deps from the environment: point it at ours."""
    from backend.jobs import runtime

    values = {
        "OPTLINE_DATABASE_URL": settings.database_url,
        "OPTLINE_INSTANCE_PATH": str(settings.instance_path),
        "OPTLINE_SECRET_KEY": settings.secret_key,
        "OPTLINE_ENCRYPTION_KEY": settings.encryption_key,
        "OPTLINE_ALLOW_CUSTOM_BRAZE_ENDPOINTS": "true",
        "OPTLINE_ENV": "development",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("OPTLINE_REDIS_URL", "OPTLINE_SMTP_URL", "OPTLINE_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    yield
    runtime.set_deps(None)


def run_cli(*args: str, stdin: str | None = None) -> Result:
    from backend.cli import _register, cli

    _register()
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def runs_of(deps: Deps) -> list[SyncRun]:
    with deps.session() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
