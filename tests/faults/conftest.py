"""Fault-injection trials: skipped by default except one quick smoke trial of each kind.

``make faults`` (``OPTLINE_FAULTS=1 pytest tests/faults -m faults``) runs every trial. Trials are
marked ``faults``; the smoke trials also carry ``faults_smoke`` and run in the default suite.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.services import RedisProcess, start_redis
from tests.faults.trials import LOG


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: a fault-injection trial (make faults)")
    config.addinivalue_line("markers", "faults_smoke: the quick trial of a kind, run by default")


def _full_run(config: pytest.Config) -> bool:
    expression = config.option.markexpr or ""
    asked = "faults" in expression.split() and "not faults" not in expression
    return os.environ.get("OPTLINE_FAULTS") == "1" or asked


def pytest_sessionstart(session: pytest.Session) -> None:
    """A full run starts a fresh trial log (bench/faults_report.py summarises it)."""
    if _full_run(session.config) and not os.environ.get("OPTLINE_FAULTS_LOG"):
        LOG.unlink(missing_ok=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _full_run(config):
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason="fault trial: run with make faults (OPTLINE_FAULTS=1)")
    for item in items:
        if here in Path(str(item.fspath)).parents and "faults_smoke" not in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A redis-server of our own on a private port: workers in subprocesses reach it by TCP."""
    server = start_redis(tmp_path_factory.mktemp("faults-redis"))
    yield server
    server.stop()


@pytest.fixture
def fault_redis(redis_process: RedisProcess) -> Iterator[RedisProcess]:
    if not redis_process.running:
        redis_process.start()
    redis_process.client().flushall()
    yield redis_process
    if redis_process.running:
        redis_process.client().flushall()
