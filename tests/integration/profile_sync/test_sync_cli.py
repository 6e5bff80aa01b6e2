"""``optline sync run`` runs goals now, in process; ``optline sync status`` shows them."""

from __future__ import annotations

import json

from backend.domain.errors import PermanentError
from backend.services.deps import Deps
from tests.integration.profile_sync.conftest import FakeEngine, run_cli, runs_of


def test_sync_run_prints_a_summary_per_run(
    configured: Deps, cli_env: None, engines: FakeEngine
) -> None:
    result = run_cli("sync", "run", "braze-profiles")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("run 1 import braze-loyalty: succeeded")
    assert lines[0].endswith("3 checked, 0 created, 2 updated, 1 unchanged, 0 skipped, 0 failed")
    assert lines[1].startswith("run 2 export vip-to-braze: succeeded")
    assert [r.trigger for r in runs_of(configured)] == ["cli", "cli"]
    assert [kind for kind, _, _ in engines.calls] == ["import", "export"]


def test_sync_run_json_is_the_runs_api_object(
    configured: Deps, cli_env: None, engines: FakeEngine, client: object, auth: dict[str, str]
) -> None:
    result = run_cli(
        "sync", "run", "braze-profiles", "--goal", "vip-to-braze", "--dry-run", "--json"
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    (run,) = body["runs"]
    assert run["goal"] == "vip-to-braze" and run["dry_run"] is True
    api = client.get(f"/api/admin/v1/runs/{run['id']}", headers=auth).get_json()  # type: ignore[attr-defined]
    assert run == api


def test_failed_runs_exit_non_zero_with_their_reason(
    configured: Deps, cli_env: None, engines: FakeEngine
) -> None:
    engines.fail_with = PermanentError("Braze refused the API key (401)")
    result = run_cli("sync", "run", "braze-profiles", "--goal", "braze-loyalty")
    assert result.exit_code == 1
    assert ": failed" in result.stdout
    assert "error: Braze refused the API key (401)" in result.stdout


def test_bad_input_is_one_line(configured: Deps, cli_env: None, engines: FakeEngine) -> None:
    for args, message in (
        (("sync", "run", "nope"), "error: sync connection 'nope' does not exist"),
        (("sync", "run", "braze-profiles", "--goal", "x"), "has no goal 'x'"),
    ):
        result = run_cli(*args)
        assert result.exit_code == 1
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.output


def test_sync_status(configured: Deps, cli_env: None, engines: FakeEngine) -> None:
    assert run_cli("sync", "run", "braze-profiles", "--goal", "braze-loyalty").exit_code == 0
    result = run_cli("sync", "status")
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "braze-profiles (Braze braze-main, enabled, 4 times a day)"
    assert lines[1].startswith("  import braze-loyalty: next 20")
    assert lines[1].endswith(
        "last run 1 succeeded: 3 checked, 0 created, 2 updated, 1 unchanged, 0 skipped, 0 failed"
    )
    assert lines[2].endswith("never run")
    as_json = json.loads(run_cli("sync", "status", "--json").stdout)
    assert as_json["connections"][0]["goals"][0]["last_run"]["status"] == "succeeded"


def test_sync_status_without_connections(deps: Deps, cli_env: None) -> None:
    assert run_cli("sync", "status").stdout.strip() == "no sync connections configured"
