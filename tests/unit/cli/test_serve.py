"""``optline serve``: granian's options as the command line gives them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from granian.constants import Interfaces

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
    monkeypatch.setattr(wsgi_server, "run_server", runs.append)
    return runs


def test_serve_defaults_to_two_workers_of_24_threads_and_no_access_log(
    started: list[dict[str, Any]],
) -> None:
    result = CliRunner().invoke(cli, ["serve", "--bind", "127.0.0.1:8123"])
    assert result.exit_code == 0, result.output
    [options] = started
    assert (options["address"], options["port"]) == ("127.0.0.1", 8123)
    assert (options["workers"], options["blocking_threads"]) == (SERVE_WORKERS, SERVE_THREADS)
    assert (SERVE_WORKERS, SERVE_THREADS) == (2, 24)
    assert options["interface"] == Interfaces.WSGI
    assert (options["target"], options["factory"]) == (wsgi_server.APP_FACTORY, True)
    assert options["log_access"] is False and options["websockets"] is False
    assert options["respawn_failed_workers"] is True


def test_serve_prints_the_access_log_when_asked(started: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(cli, ["serve", "--access-log", "--threads", "4"])
    assert result.exit_code == 0, result.output
    assert started[0]["log_access"] is True and started[0]["blocking_threads"] == 4


def test_serve_binds_the_port_of_the_settings_by_default(
    started: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTLINE_PORT", "8456")
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 0, result.output
    assert (started[0]["address"], started[0]["port"]) == ("127.0.0.1", 8456)


@pytest.mark.parametrize(
    ("bind", "where"),
    [
        ("0.0.0.0:80", {"address": "0.0.0.0", "port": 80}),
        ("[::1]:8000", {"address": "::1", "port": 8000}),
        ("unix:/run/optline.sock", {"uds": Path("/run/optline.sock")}),
    ],
)
def test_serve_binds_addresses_ports_and_unix_sockets(
    started: list[dict[str, Any]], bind: str, where: dict[str, Any]
) -> None:
    result = CliRunner().invoke(cli, ["serve", "--bind", bind])
    assert result.exit_code == 0, result.output
    assert {key: started[0].get(key) for key in where} == where


@pytest.mark.parametrize("bind", ["localhost", "127.0.0.1:http", "127.0.0.1:"])
def test_a_bind_without_a_port_is_refused_before_anything_starts(
    started: list[dict[str, Any]], bind: str
) -> None:
    result = CliRunner().invoke(cli, ["serve", "--bind", bind])
    assert result.exit_code == 2
    assert "--bind" in result.output and "host:port" in result.output
    assert started == []
