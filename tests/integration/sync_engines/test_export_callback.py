"""Braze's callback_endpoint: the import gives a signed URL, the fake calls it once every file is
written, and the run stops waiting at once; a forged call is refused and changes nothing."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from backend.app import create_app
from backend.services.sync_callback import callback_for_run
from backend.services.sync_import import ImportTuning, run_import
from backend.services.sync_import_files import WatchTuning
from backend.settings import Settings
from tests.integration.sync_engines.conftest import World
from tests.integration.sync_engines.test_import_engine import MAPPINGS, seed_braze

pytestmark = pytest.mark.integration
BASE = "https://optline.example.com/api/sync/v1/export-ready"


@pytest.fixture
def web(settings: Settings, world: World) -> FlaskClient:
    app = create_app(settings, world.deps)
    app.config["TESTING"] = True
    return app.test_client()


def post(web: FlaskClient, url: str, body: Any) -> tuple[int, Any]:
    parts = urlsplit(url)
    response = web.post(f"{parts.path}?{parts.query}", json=body)
    return response.status_code, response.get_json()


def test_brazes_callback_ends_the_wait_through_the_endpoint(world: World, web: FlaskClient) -> None:
    seed_braze(world)
    writer = world.writer(users_per_file=2, delay=0.2)
    writer.deliver_callback = lambda url, body: post(web, url, body)[0]
    world.deps.extras["sync_import_tuning"] = ImportTuning(
        watch=WatchTuning(poll_first=0.05, poll_max=0.2, quiet_period=60.0, timeout=60.0),
        callback_url=BASE,
    )
    run_id = world.run("import", world.import_goal(mappings=MAPPINGS))
    started = time.monotonic()
    run_import(world.deps, run_id)

    assert time.monotonic() - started < 15  # far less than the 60 s quiet period
    (export,) = [r.body for r in world.fake.requests_to("/users/export/segment")]
    given = export["callback_endpoint"]
    assert given.startswith(BASE + "?") and parse_qs(urlsplit(given).query)["run"] == [str(run_id)]
    assert writer.callbacks == [(given, 200)]
    assert world.sync_run(run_id).counts["checked"] == 3
    assert sorted(world.all_profiles()) == ["u1", "u2", "u3"]


def test_a_forged_or_altered_callback_is_refused_and_changes_nothing(
    world: World, web: FlaskClient
) -> None:
    run_id = world.run("import", world.import_goal(mappings=MAPPINGS))
    good = callback_for_run(world.deps, run_id, BASE)
    assert good is not None
    other = callback_for_run(world.deps, run_id + 1, BASE)
    assert other is not None
    forged = [
        f"{BASE}?run={run_id}",  # no signature
        f"{BASE}?run={run_id}&sig=" + "0" * 64,
        good.replace(f"run={run_id}", f"run={run_id + 1}"),  # another run's id, this signature
        other.replace(f"run={run_id + 1}", f"run={run_id}"),  # another run's signature
        f"{BASE}?run=x&sig=y",
    ]
    for url in forged:
        status, body = post(web, url, {"success": True})
        assert status == 403, url
        assert body["error"]["code"] == "forbidden"
    assert not world.sync_run(run_id).checkpoint.get("callback_received")

    status, body = post(web, good, {"success": False})  # Braze says the export failed
    assert (status, body) == (200, {"received": True, "marked": False})
    assert not world.sync_run(run_id).checkpoint.get("callback_received")
    status, body = post(web, good, {"success": True})
    assert (status, body) == (200, {"received": True, "marked": True})
    assert world.sync_run(run_id).checkpoint.get("callback_received") is True


def test_no_callback_is_given_when_braze_could_not_reach_us(world: World) -> None:
    assert world.deps.settings.public_url.startswith("http://127.0.0.1")
    assert callback_for_run(world.deps, 1) is None
