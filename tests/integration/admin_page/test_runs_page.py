"""Sync runs on the settings page: Run now and Dry run per goal and for all, the one-active-run
conflict, the run page with counts, preview and row errors, the CSV report, live progress while a
run is going (and not after), cancel, and the runs list with its filters."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from backend.db.models import SyncRun, SyncRunError
from backend.services import sync_runs
from backend.services.deps import Deps
from tests.fakes.jobs import RecordingJobQueue
from tests.integration.admin_page.page_forms import csrf_token
from tests.integration.admin_page.sync_page_forms import seed_sync

CONNECTION_PAGE = "/admin/sync-connections/braze-profiles/runs"
SCRIPT = '<script src="/static/admin/run_progress.js" defer></script>'


@pytest.fixture
def seeded(admin: FlaskClient) -> FlaskClient:
    seed_sync(admin)
    return admin


def run_now(client: FlaskClient, goal: str = "", dry_run: str = "0") -> Any:
    token = csrf_token(client.get(CONNECTION_PAGE).get_data(as_text=True))
    return client.post(
        "/admin/sync-connections/braze-profiles/run",
        data={"csrf_token": token, "goal": goal, "dry_run": dry_run},
    )


def runs(deps: Deps) -> list[SyncRun]:
    with deps.session() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


def finish(deps: Deps, run_id: int, **values: Any) -> None:
    now = deps.clock()
    values = {
        "status": "succeeded",
        "started_at": now - timedelta(seconds=3),
        "finished_at": now,
        **values,
    }
    with deps.session() as session:
        session.execute(update(SyncRun).where(SyncRun.id == run_id).values(**values))


def test_connection_page_shows_goals_schedule_and_buttons(seeded: FlaskClient) -> None:
    html = seeded.get(CONNECTION_PAGE).get_data(as_text=True)
    assert "schedule: 4 times a day" in html
    assert "<code>braze-loyalty</code>" in html and "<code>vip-to-braze</code>" in html
    assert html.count("never run") == 2
    assert html.count('name="dry_run" value="1"') == 3  # two goals and "every goal"


def test_run_now_queues_a_run_and_enqueues_its_job(
    seeded: FlaskClient, deps: Deps, jobs: RecordingJobQueue
) -> None:
    response = run_now(seeded, "braze-loyalty")
    assert response.status_code == 302
    (run,) = runs(deps)
    assert response.headers["Location"] == f"/admin/runs/{run.id}"
    assert (run.goal_code, run.status, run.trigger, run.dry_run) == (
        "braze-loyalty",
        "queued",
        "manual",
        False,
    )
    sync_calls = [c for c in jobs.calls if c.queue == "sync"]
    assert [(c.func, c.args, c.job_id) for c in sync_calls] == [
        ("backend.jobs.sync.run_goal_job", (run.id,), f"sync-run-{run.id}")
    ]
    page = seeded.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Run queued: braze-loyalty (run {run.id})." in page


def test_a_second_click_while_queued_shows_the_conflict(
    seeded: FlaskClient, deps: Deps, jobs: RecordingJobQueue
) -> None:
    assert run_now(seeded, "braze-loyalty").status_code == 302
    response = run_now(seeded, "braze-loyalty")
    assert response.status_code == 302
    assert response.headers["Location"] == CONNECTION_PAGE
    html = seeded.get(CONNECTION_PAGE).get_data(as_text=True)
    first = runs(deps)[0].id
    conflict = "goal &#39;braze-loyalty&#39; of &#39;braze-profiles&#39; already has run"
    assert f"Nothing was started: {conflict} {first} (queued)" in html
    assert len(runs(deps)) == 1
    assert len([c for c in jobs.calls if c.queue == "sync"]) == 1


def test_dry_run_of_every_goal(seeded: FlaskClient, deps: Deps) -> None:
    response = run_now(seeded, "", dry_run="1")
    assert response.status_code == 302 and response.headers["Location"] == CONNECTION_PAGE
    assert [(r.goal_code, r.dry_run) for r in runs(deps)] == [
        ("braze-loyalty", True),
        ("vip-to-braze", True),
    ]
    html = seeded.get(CONNECTION_PAGE).get_data(as_text=True)
    assert "Dry run queued: braze-loyalty" in html
    assert html.count("badge--live") >= 2  # last run of each goal: queued


def test_a_request_without_a_button_starts_nothing(seeded: FlaskClient, deps: Deps) -> None:
    response = run_now(seeded, "braze-loyalty", dry_run="maybe")
    assert response.status_code == 302
    assert runs(deps) == []


def test_run_page_shows_counts_errors_and_the_csv(seeded: FlaskClient, deps: Deps) -> None:
    (run,) = sync_runs.request_runs(deps, "braze-profiles", goal="vip-to-braze", trigger="manual")
    counts = {
        "checked": 120,
        "created": 0,
        "updated": 100,
        "unchanged": 12,
        "skipped": 3,
        "failed": 5,
    }
    finish(deps, run["id"], counts=counts, progress={"phase": "done", "requests": 2})
    with deps.session() as session:
        session.add_all(
            [
                SyncRunError(
                    run_id=run["id"],
                    row_ref=f"batch 1 item {i}",
                    field="tier",
                    message=f"bad value {i}",
                )
                for i in range(105)
            ]
            + [
                SyncRunError(
                    run_id=run["id"], row_ref="x", field=None, message="=cmd|' /C calc'!A0"
                )
            ]
        )
    html = seeded.get(f"/admin/runs/{run['id']}").get_data(as_text=True)
    for key, value in counts.items():
        assert f'<dd data-count="{key}">{value}</dd>' in html
    assert "106 rows could not be applied; the first 100 are shown." in html
    assert "bad value 99" in html and "bad value 100" not in html
    assert "3.0 s" in html and "requests" in html
    assert f'href="/admin/runs/{run["id"]}/errors.csv"' in html
    response = seeded.get(f"/admin/runs/{run['id']}/errors.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["row", "profile", "external_id", "field", "message"]
    assert len(rows) == 107
    assert rows[1] == ["batch 1 item 0", "", "", "tier", "bad value 0"]
    assert rows[-1][-1] == "'=cmd|' /C calc'!A0"  # neutralised for spreadsheets


def test_live_progress_while_running_and_not_after(seeded: FlaskClient, deps: Deps) -> None:
    (run,) = sync_runs.request_runs(deps, "braze-profiles", goal="braze-loyalty", trigger="manual")
    url = f"/admin/runs/{run['id']}"
    queued = seeded.get(url).get_data(as_text=True)
    assert SCRIPT in queued and f'data-progress-url="{url}.json"' in queued
    assert "waiting for a worker" in queued and ">Refresh</a>" in queued
    assert sync_runs.start_run(deps, run["id"])
    with deps.session() as session:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == run["id"])
            .values(counts={"checked": 40}, progress={"phase": "reading files", "files_done": 1})
        )
    running = seeded.get(url).get_data(as_text=True)
    assert SCRIPT in running and "reading files" in running
    polled = seeded.get(url + ".json")
    assert polled.status_code == 200 and polled.headers["Cache-Control"] == "no-store"
    body = polled.get_json()
    assert (body["status"], body["live"], body["counts"]["checked"]) == ("running", True, 40)
    assert body["progress"] == {"phase": "reading files", "files_done": 1}
    sync_runs.finish_run(deps, run["id"], "failed", "Braze segment export timed out")
    done = seeded.get(url).get_data(as_text=True)
    assert SCRIPT not in done and "data-progress-url" not in done and ">Refresh</a>" not in done
    assert "Braze segment export timed out" in done
    assert seeded.get(url + ".json").get_json()["live"] is False


def test_the_progress_script_is_served_and_polls_the_json(client: FlaskClient) -> None:
    response = client.get("/static/admin/run_progress.js")
    assert response.status_code == 200
    source = response.get_data(as_text=True)
    assert "data-progress-url" in source and "2000" in source and "location.reload" in source
    response.close()


def test_dry_run_page_shows_the_preview(seeded: FlaskClient, deps: Deps) -> None:
    (run,) = sync_runs.request_runs(
        deps, "braze-profiles", goal="vip-to-braze", dry_run=True, trigger="manual"
    )
    preview = {
        "samples": [{"profile": "gold-es", "changes": {"tier": {"before": None, "after": "gold"}}}],
        "requests": [
            {
                "method": "POST",
                "path": "/users/track",
                "body": {"attributes": [{"external_id": "gold-es", "tier": "gold"}]},
            }
        ],
        "request_count": 1,
    }
    finish(deps, run["id"], preview=preview, counts={"checked": 1, "updated": 1})
    html = seeded.get(f"/admin/runs/{run['id']}").get_data(as_text=True)
    assert "Dry-run preview" in html and "dry run — nothing is written or sent" in html
    assert "Requests it would send: <strong>1</strong>" in html
    assert "<code>gold-es</code>" in html and "<code>tier</code>" in html
    assert (
        "<code>/users/track</code>" in html and "&#34;external_id&#34;: &#34;gold-es&#34;" in html
    )


def test_cancel_a_queued_run(seeded: FlaskClient, deps: Deps) -> None:
    (run,) = sync_runs.request_runs(deps, "braze-profiles", goal="braze-loyalty", trigger="manual")
    url = f"/admin/runs/{run['id']}"
    token = csrf_token(seeded.get(url).get_data(as_text=True))
    response = seeded.post(url + "/cancel", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == url
    assert runs(deps)[0].status == "cancelled"
    html = seeded.get(url).get_data(as_text=True)
    assert f"Run {run['id']} cancelled." in html and "Cancel run" not in html
    again = seeded.post(url + "/cancel", data={"csrf_token": token})
    assert again.status_code == 302
    assert "is already cancelled" in seeded.get(url).get_data(as_text=True)


def test_runs_list_filters_by_connection_and_status(seeded: FlaskClient, deps: Deps) -> None:
    first, second = sync_runs.request_runs(deps, "braze-profiles", trigger="manual")
    finish(deps, first["id"])
    listing = seeded.get("/admin/runs").get_data(as_text=True)
    assert f'href="/admin/runs/{first["id"]}"' in listing
    assert f'href="/admin/runs/{second["id"]}"' in listing
    succeeded = seeded.get("/admin/runs?status=succeeded").get_data(as_text=True)
    assert f'href="/admin/runs/{first["id"]}"' in succeeded
    assert f'href="/admin/runs/{second["id"]}"' not in succeeded
    assert '<option value="succeeded" selected>' in succeeded
    by_connection = seeded.get("/admin/runs?connection=braze-profiles&status=queued")
    assert f'href="/admin/runs/{second["id"]}"' in by_connection.get_data(as_text=True)
    unknown = seeded.get("/admin/runs?connection=nope&status=bogus")
    assert unknown.status_code == 200  # unknown filters are ignored, not an error
    assert f'href="/admin/runs/{first["id"]}"' in unknown.get_data(as_text=True)


def test_unknown_runs_and_connections_are_404(seeded: FlaskClient) -> None:
    assert seeded.get("/admin/runs/999").status_code == 404
    assert seeded.get("/admin/runs/999.json").status_code == 404
    assert seeded.get("/admin/runs/999/errors.csv").status_code == 404
    assert seeded.get("/admin/sync-connections/nope/runs").status_code == 404
