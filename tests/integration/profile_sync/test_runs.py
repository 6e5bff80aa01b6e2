"""Sync runs: one active run per goal, transitions, cancel, stale takeover, API and CSV."""

from __future__ import annotations

import csv
import io
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from backend.db.models import SyncRun, SyncRunError
from backend.domain.errors import ConflictError, NotFoundError, PermanentError
from backend.services import sync_runs
from backend.services.deps import Deps
from tests.fakes.jobs import RecordingJobQueue
from tests.integration.profile_sync.conftest import FakeEngine, runs_of

COUNT_KEYS = {"checked", "created", "updated", "unchanged", "skipped", "failed"}


def test_run_now_queues_every_goal_imports_first_and_enqueues_after_commit(
    configured: Deps, jobs: RecordingJobQueue
) -> None:
    runs = sync_runs.request_runs(configured, "braze-profiles")
    assert [(r["kind"], r["goal"], r["status"]) for r in runs] == [
        ("import", "braze-loyalty", "queued"),
        ("export", "vip-to-braze", "queued"),
    ]
    assert [(c.func, c.args, c.queue, c.job_id) for c in jobs.calls] == [
        ("backend.jobs.sync.run_goal_job", (r["id"],), "sync", f"sync-run-{r['id']}") for r in runs
    ]


def test_a_goal_never_has_two_active_runs(configured: Deps) -> None:
    (first,) = sync_runs.request_runs(configured, "braze-profiles", goal="vip-to-braze")
    with pytest.raises(ConflictError, match=f"run {first['id']} \\(queued\\)"):
        sync_runs.request_runs(configured, "braze-profiles", goal="vip-to-braze")
    # All or nothing: the import goal is free, but the export goal is busy.
    with pytest.raises(ConflictError):
        sync_runs.request_runs(configured, "braze-profiles")
    assert len(runs_of(configured)) == 1


def test_concurrent_requests_one_wins(configured: Deps) -> None:
    barrier = threading.Barrier(6)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            sync_runs.request_runs(configured, "braze-profiles", goal="braze-loyalty")
            result = "created"
        except ConflictError:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict"] * 5 + ["created"]
    assert len(runs_of(configured)) == 1


def test_execute_run_records_success_and_engine_counts(
    configured: Deps, engines: FakeEngine
) -> None:
    (run,) = sync_runs.request_runs(configured, "braze-profiles", goal="braze-loyalty")
    result = sync_runs.execute_run(configured, run["id"])
    assert result is not None
    assert result["status"] == "succeeded"
    assert result["counts"] == {
        "checked": 3,
        "created": 0,
        "updated": 2,
        "unchanged": 1,
        "skipped": 0,
        "failed": 0,
    }
    assert result["started_at"] and result["finished_at"]
    assert engines.calls == [("import", run["id"], {})]
    # Finished: not claimable again, and the goal is free for a new run.
    assert sync_runs.execute_run(configured, run["id"]) is None
    sync_runs.request_runs(configured, "braze-profiles", goal="braze-loyalty")


def test_engine_failures_end_the_run_failed_with_a_reason(
    configured: Deps, engines: FakeEngine
) -> None:
    engines.fail_with = PermanentError("Braze refused the API key (401)")
    (run,) = sync_runs.request_runs(configured, "braze-profiles", goal="vip-to-braze")
    result = sync_runs.execute_run(configured, run["id"])
    assert result is not None
    assert (result["status"], result["error"]) == ("failed", "Braze refused the API key (401)")
    engines.fail_with = KeyError("bug")
    (run,) = sync_runs.request_runs(configured, "braze-profiles", goal="vip-to-braze")
    result = sync_runs.execute_run(configured, run["id"])
    assert result is not None
    assert (result["status"], result["error"]) == ("failed", "internal error (KeyError)")


def test_missing_engine_fails_the_run(configured: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sync_runs.ENGINES, "export", "backend.services.nope:run_export")
    (run,) = sync_runs.request_runs(configured, "braze-profiles", goal="vip-to-braze")
    result = sync_runs.execute_run(configured, run["id"])
    assert result is not None
    assert result["status"] == "failed"
    assert "not installed" in result["error"]


def test_cancel_a_queued_run(configured: Deps, engines: FakeEngine) -> None:
    (run,) = sync_runs.request_runs(configured, "braze-profiles", goal="vip-to-braze")
    cancelled = sync_runs.cancel_run(configured, run["id"])
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
    assert sync_runs.execute_run(configured, run["id"]) is None
    assert engines.calls == []
    with pytest.raises(ConflictError, match="already cancelled"):
        sync_runs.cancel_run(configured, run["id"])
    sync_runs.request_runs(configured, "braze-profiles", goal="vip-to-braze")  # goal is free


def test_cancel_a_running_run_holds_the_goal_until_the_engine_stops(
    configured: Deps, engines: FakeEngine
) -> None:
    seen: dict[str, Any] = {}

    def during(deps: Deps, run_id: int) -> None:
        view = sync_runs.cancel_run(deps, run_id)
        seen["status"], seen["finished"] = view["status"], view["finished_at"]
        with pytest.raises(ConflictError):
            sync_runs.request_runs(deps, "braze-profiles", goal="vip-to-braze")
        with deps.session() as session, pytest.raises(sync_runs.RunCancelledError):
            sync_runs.raise_if_cancelled(session, run_id)
        sync_runs.heartbeat(deps, run_id)  # raises: the engine stops here

    engines.during = during
    (run,) = sync_runs.request_runs(configured, "braze-profiles", goal="vip-to-braze")
    result = sync_runs.execute_run(configured, run["id"])
    assert seen == {"status": "cancelled", "finished": None}
    assert result is not None
    assert result["status"] == "cancelled" and result["finished_at"]
    sync_runs.request_runs(configured, "braze-profiles", goal="vip-to-braze")


def test_a_stale_running_run_is_taken_over_and_resumes_from_its_checkpoint(
    configured: Deps, engines: FakeEngine, jobs: RecordingJobQueue
) -> None:
    (run,) = sync_runs.request_runs(configured, "braze-profiles", goal="braze-loyalty")
    assert sync_runs.start_run(configured, run["id"])  # a worker took it ... and died
    with configured.session() as session:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == run["id"])
            .values(checkpoint={"files_done": ["a.gz"]})
        )
    assert not sync_runs.start_run(configured, run["id"])  # still fresh: not claimable
    assert sync_runs.execute_run(configured, run["id"]) is None
    stale = configured.clock() - sync_runs.STALE_AFTER - timedelta(seconds=1)
    with configured.session() as session:
        session.execute(update(SyncRun).where(SyncRun.id == run["id"]).values(heartbeat_at=stale))
    jobs.calls.clear()
    assert sync_runs.sweep_runs(configured) == [run["id"]]
    assert [c.job_id for c in jobs.calls] == [f"sync-run-{run['id']}"]
    result = sync_runs.execute_run(configured, run["id"])
    assert result is not None
    assert result["status"] == "succeeded"
    assert result["progress"]["resumed"] == 1
    assert engines.calls == [("import", run["id"], {"files_done": ["a.gz"]})]


def test_sweep_requeues_lost_queued_runs_and_ends_abandoned_cancels(
    configured: Deps, jobs: RecordingJobQueue
) -> None:
    old = configured.clock() - timedelta(minutes=30)
    (queued,) = sync_runs.request_runs(configured, "braze-profiles", goal="braze-loyalty")
    (running,) = sync_runs.request_runs(configured, "braze-profiles", goal="vip-to-braze")
    sync_runs.start_run(configured, running["id"])
    sync_runs.cancel_run(configured, running["id"])
    with configured.session() as session:
        session.execute(update(SyncRun).values(created_at=old, heartbeat_at=old))
    jobs.calls.clear()
    assert sync_runs.sweep_runs(configured) == [queued["id"]]
    assert sync_runs.get_run(configured, running["id"])["finished_at"] is not None


def test_runs_api_has_the_product_shape(
    configured: Deps, client: Any, auth: dict[str, str], engines: FakeEngine
) -> None:
    response = client.post(
        "/api/admin/v1/sync_connections/braze-profiles/run",
        json={"goal": "braze-loyalty"},
        headers=auth,
    )
    assert response.status_code == 202
    (queued,) = response.get_json()["runs"]
    sync_runs.execute_run(configured, queued["id"])
    body = client.get("/api/admin/v1/runs?connection=braze-profiles", headers=auth).get_json()
    (run,) = body["runs"]
    assert {"id", "goal", "status", "counts"} <= set(run)
    assert run["goal"] == "braze-loyalty"
    assert run["status"] == "succeeded"
    assert set(run["counts"]) == COUNT_KEYS
    assert all(isinstance(v, int) for v in run["counts"].values())
    assert run["connection"] == "braze-profiles" and run["kind"] == "import"
    assert client.get(f"/api/admin/v1/runs/{run['id']}", headers=auth).get_json() == run
    assert client.get("/api/admin/v1/runs/999999", headers=auth).status_code == 404
    missing = client.get("/api/admin/v1/runs?connection=nope", headers=auth)
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"


def test_run_now_api_conflict_dry_run_and_cancel(
    configured: Deps, client: Any, auth: dict[str, str]
) -> None:
    url = "/api/admin/v1/sync_connections/braze-profiles/run"
    first = client.post(url, json={"goal": "vip-to-braze", "dry_run": True}, headers=auth)
    (run,) = first.get_json()["runs"]
    assert run["dry_run"] is True and run["preview"] == {}
    again = client.post(url, json={"goal": "vip-to-braze"}, headers=auth)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "conflict"
    assert client.post(url, json={"goal": "nope"}, headers=auth).status_code == 404
    assert client.post(url, json={"dry_run": "yes"}, headers=auth).status_code == 400
    assert client.post(url, json={"goals": ["x"]}, headers=auth).status_code == 400
    cancelled = client.post(f"/api/admin/v1/runs/{run['id']}/cancel", headers=auth)
    assert cancelled.get_json()["status"] == "cancelled"
    assert client.post(f"/api/admin/v1/runs/{run['id']}/cancel", headers=auth).status_code == 409
    assert client.post(url, headers=auth).status_code == 202  # no body: every goal


def test_error_report_csv(
    configured: Deps, client: Any, auth: dict[str, str], engines: FakeEngine
) -> None:
    engines.errors = [
        {
            "row_ref": "braze_id:b1",
            "profile_id": None,
            "field": "points",
            "message": "not a number",
        },
        {
            "row_ref": "external_id:u2",
            "profile_id": None,
            "field": None,
            "message": '=HYPERLINK("http://evil")',
        },
    ]
    (run,) = sync_runs.request_runs(configured, "braze-profiles", goal="braze-loyalty")
    sync_runs.execute_run(configured, run["id"])
    view = client.get(f"/api/admin/v1/runs/{run['id']}", headers=auth).get_json()
    assert view["errors"] == 2
    response = client.get(f"/api/admin/v1/runs/{run['id']}/errors.csv", headers=auth)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [
        ["row", "profile", "external_id", "field", "message"],
        ["braze_id:b1", "", "", "points", "not a number"],
        ["external_id:u2", "", "", "", '\'=HYPERLINK("http://evil")'],
    ]
    assert client.get("/api/admin/v1/runs/424242/errors.csv", headers=auth).status_code == 404


def test_large_error_reports_stream_in_chunks(configured: Deps) -> None:
    (run,) = sync_runs.request_runs(configured, "braze-profiles", goal="braze-loyalty")
    with configured.session() as session:
        session.add_all(
            SyncRunError(run_id=run["id"], row_ref=f"r{i}", message="m") for i in range(2500)
        )
    from backend.services.sync_run_views import error_report_csv

    chunks = list(error_report_csv(configured, run["id"]))
    assert len(chunks) == 3
    assert sum(c.count("\n") for c in chunks) == 2501
    with pytest.raises(NotFoundError):
        error_report_csv(configured, 999_999)


def test_unknown_connection_and_goal(configured: Deps) -> None:
    with pytest.raises(NotFoundError, match="sync connection 'nope'"):
        sync_runs.request_runs(configured, "nope")
    with pytest.raises(NotFoundError, match="goals: braze-loyalty, vip-to-braze"):
        sync_runs.request_runs(configured, "braze-profiles", goal="nope")
