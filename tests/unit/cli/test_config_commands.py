"""``optline apply`` and ``optline config export`` as a user runs them."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import backend.cli
from backend.cli import cli
from tests.config_samples import ENVIRON, SAMPLE_YAML, SECRETS, row_counts, snapshot


@pytest.fixture(scope="module", autouse=True)
def registered() -> Iterator[None]:
    if not cli.commands.get("apply"):
        backend.cli._register()
    yield


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    instance = tmp_path / "cli-instance"
    instance.mkdir()
    return {
        "OPTLINE_DATABASE_URL": database_url,
        "OPTLINE_INSTANCE_PATH": str(instance),
        "OPTLINE_ENCRYPTION_KEY": "test-encryption-key",
        "OPTLINE_SECRET_KEY": "test-secret-key",
        "OPTLINE_ENV": "development",
        **ENVIRON,
    }


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "optline.yaml"
    path.write_text(SAMPLE_YAML, encoding="utf-8")
    return path


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_apply_prints_what_it_did_and_is_idempotent(env: dict[str, str], config_file: Path) -> None:
    code, out, err = run(env, "apply", str(config_file))
    assert code == 0, err
    assert out.splitlines() == [
        "created braze_connection braze-main",
        "created subscription newsletter",
        "created property acme-web",
        "3 created, 0 changed, 0 unchanged, 0 deleted",
    ]
    code, out, _ = run(env, "apply", str(config_file))
    assert code == 0
    assert out.splitlines()[-1] == "0 created, 0 changed, 3 unchanged, 0 deleted"


def test_dry_run_writes_nothing(env: dict[str, str], config_file: Path, deps: object) -> None:
    from backend.services.deps import Deps

    assert isinstance(deps, Deps)
    before, counts = snapshot(deps), row_counts(deps)
    code, out, _ = run(env, "apply", "--dry-run", str(config_file))
    assert code == 0
    assert "created property acme-web" in out and out.rstrip().endswith(
        "dry run: nothing was written"
    )
    assert snapshot(deps) == before and row_counts(deps) == counts


def test_export_round_trips_and_redacts(
    env: dict[str, str], config_file: Path, tmp_path: Path
) -> None:
    run(env, "apply", str(config_file))
    code, out, _ = run(env, "config", "export")
    assert code == 0
    exported = yaml.safe_load(out)
    assert exported["braze_connections"][0]["api_key"] == "<redacted>"
    for secret in SECRETS:
        assert secret not in out
    export_file = tmp_path / "export.yaml"
    export_file.write_text(out, encoding="utf-8")
    code, out, _ = run(env, "apply", "--prune", str(export_file))
    assert code == 0 and out.splitlines()[-1] == "0 created, 0 changed, 3 unchanged, 0 deleted"
    code, out, _ = run(env, "config", "export", "--format", "json")
    assert code == 0 and json.loads(out) == exported


def test_bad_file_is_one_line_and_exit_1(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SAMPLE_YAML.replace("languages: [en, es]", "languages: [en, sp]"))
    code, out, err = run(env, "apply", str(bad))
    assert code == 1 and out == ""
    assert err == (
        "error: properties[0].languages[1]: 'sp' is not an ISO 639-1 language code "
        "(two letters, e.g. en, es, pt)\n"
    )
    code, _, err = run(
        {k: v for k, v in env.items() if k != "BRAZE_API_KEY"}, "apply", str(tmp_path / "bad.yaml")
    )
    assert code == 1 and "undefined variable ${BRAZE_API_KEY}" in err
    code, _, err = run(env, "apply", str(tmp_path / "missing.yaml"))
    assert code == 1 and err.startswith("error: ") and "no such file" in err


def test_the_installed_command_exits_1_without_a_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    optline = Path(sys.executable).parent / "optline"
    if not optline.exists():
        pytest.skip("the optline script is not installed in this environment")
    bad = tmp_path / "bad.json"
    bad.write_text('{"subscriptions": [{"code": "x", "name": "X", "channels": []}], "oops": 1}')
    completed = subprocess.run(
        [str(optline), "apply", str(bad)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert completed.stderr.count("\n") == 1
    assert completed.stderr.startswith("error: oops: unknown section 'oops'")
    assert "subscriptions[0].channels: list at least one channel" in completed.stderr
