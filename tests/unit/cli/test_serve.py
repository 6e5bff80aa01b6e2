"""``optline serve``: gunicorn's options as the command line gives them."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

import backend.cli
from backend.cli import cli, wsgi_server
from backend.cli.run import SERVE_THREADS, SERVE_WORKERS


@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    if not cli.commands.get("serve"):
        backend.cli._register()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []

    def run(self: wsgi_server.OptlineServer) -> None:
        runs.append(self.options)

    monkeypatch.setattr(wsgi_server.OptlineServer, "run", run)
    return runs


def test_serve_defaults_to_two_workers_of_16_threads_and_no_access_log(
    started: list[dict[str, Any]],
) -> None:
    result = CliRunner().invoke(cli, ["serve", "--bind", "127.0.0.1:8123"])
    assert result.exit_code == 0, result.output
    [options] = started
    assert options["bind"] == "127.0.0.1:8123"
    assert (options["workers"], options["threads"]) == (SERVE_WORKERS, SERVE_THREADS) == (2, 16)
    assert options["worker_class"] == "gthread"
    assert options["accesslog"] is None


def test_serve_prints_the_access_log_when_asked(started: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(cli, ["serve", "--access-log", "--threads", "4"])
    assert result.exit_code == 0, result.output
    assert started[0]["accesslog"] == "-" and started[0]["threads"] == 4
