"""Sync connections on the settings page: every field of the PRODUCT 1.4 example through the
form, schedules in their three forms, the webhook as a secret, nested errors by path, the Braze
segment picker, adding, removing and deleting."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from backend.db.models import AuditEntry, SyncConnection
from backend.domain.errors import RetryableError
from backend.services import configuration
from backend.services.deps import Deps
from backend.services.sync_config_store import notify_spec
from tests.integration.admin_page.page_forms import (
    count_rows,
    create_connection,
    scrape_form,
    submit,
)
from tests.integration.admin_page.sync_page_forms import (
    EXPECTED_SYNC_CONNECTION,
    SEGMENT_ID,
    WEBHOOK,
    post_as_rendered,
    seed_sync,
    segment_form,
    sync_connection_form,
)

URL = "/admin/sync-connections/braze-profiles/"


def stored(deps: Deps) -> dict[str, Any]:
    return configuration.get_object(deps, "sync_connections", "braze-profiles")


def stored_webhook(deps: Deps) -> str | None:
    with deps.session() as session:
        row = session.scalars(select(SyncConnection)).one()
        return notify_spec(row.notify or {}, deps.secrets).webhook


@pytest.fixture
def seeded(admin: FlaskClient) -> FlaskClient:
    seed_sync(admin)
    return admin


def test_create_through_the_form_stores_the_product_example(
    seeded: FlaskClient, deps: Deps
) -> None:
    assert stored(deps) == EXPECTED_SYNC_CONNECTION
    assert "Sync connection braze-profiles created." in seeded.get(URL).get_data(as_text=True)
    listing = seeded.get("/admin/sync-connections/").get_data(as_text=True)
    assert "4 times a day" in listing and "1 import, 1 export" in listing


@pytest.mark.parametrize(
    ("fields", "schedule"),
    [
        (
            {
                "schedule_kind": "days",
                "schedule_days": ["mon", "thu"],
                "schedule_at": "06:30",
                "schedule_timezone": "Europe/Madrid",
            },
            {"days": ["mon", "thu"], "at": "06:30", "timezone": "Europe/Madrid"},
        ),
        (
            {"schedule_kind": "day_of_month", "schedule_day_of_month": "1", "schedule_at": "02:00"},
            {"day_of_month": 1, "at": "02:00"},
        ),
        ({"schedule_kind": "none"}, None),
    ],
)
def test_each_schedule_form(
    seeded: FlaskClient, deps: Deps, fields: dict[str, Any], schedule: Any
) -> None:
    response = post_as_rendered(seeded, URL, **fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert stored(deps)["schedule"] == schedule


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"schedule_kind": "times_per_day", "schedule_times_per_day": ""}, "Say how many times"),
        ({"schedule_kind": "days", "schedule_days": ["mon"], "schedule_at": ""}, "Say at what"),
        (
            {"schedule_kind": "days", "schedule_days": ["mon"], "schedule_at": "25:00"},
            "schedule.at: &#39;25:00&#39; is not valid",
        ),
        (
            {"schedule_kind": "times_per_day", "schedule_timezone": "Mars/Olympus"},
            "schedule.timezone: &#39;Mars/Olympus&#39; is not an IANA timezone",
        ),
    ],
)
def test_schedule_problems_are_shown_and_nothing_is_written(
    seeded: FlaskClient, deps: Deps, fields: dict[str, Any], message: str
) -> None:
    before, audit = stored(deps), count_rows(deps, AuditEntry)
    response = post_as_rendered(seeded, URL, **fields)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert stored(deps) == before
    assert count_rows(deps, AuditEntry) == audit


def test_webhook_is_a_secret_kept_when_empty_and_removable(seeded: FlaskClient, deps: Deps) -> None:
    assert post_as_rendered(seeded, URL, notify_webhook=WEBHOOK).status_code == 302
    assert stored(deps)["notify"]["webhook"] == "<redacted>"
    assert stored_webhook(deps) == WEBHOOK
    page = seeded.get(URL).get_data(as_text=True)
    assert WEBHOOK not in page and "Leave empty to keep the current value." in page
    # Submitted as rendered (the password input is empty): the webhook is kept.
    assert post_as_rendered(seeded, URL).status_code == 302
    assert stored_webhook(deps) == WEBHOOK
    assert post_as_rendered(seeded, URL, remove_webhook="y").status_code == 302
    assert stored_webhook(deps) is None


def test_a_bad_webhook_is_named_by_path(seeded: FlaskClient, deps: Deps) -> None:
    response = post_as_rendered(seeded, URL, notify_webhook="ftp://nope")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "notify.webhook: is not an http(s) URL" in html
    assert 'id="notify_webhook-error"' in html
    assert "ftp://nope" not in html  # a secret input is never echoed back
    assert stored_webhook(deps) is None


def test_nested_errors_land_beside_their_row_and_nothing_is_written(
    admin: FlaskClient, deps: Deps
) -> None:
    create_connection(admin, sandbox="y")
    assert submit(admin, "/admin/segments/new", segment_form()).status_code == 302
    form = sync_connection_form(
        **{
            "import_goals-0-braze_segment_id": "not-a-uuid",
            "import_goals-0-identifiers-0-braze": "",
            "import_goals-0-identifiers-0-profile": "",
            # Row 0 of the export mappings blank: definition item 0 is form row 1.
            "export_goals-0-mappings-0-source": "",
            "export_goals-0-mappings-0-name": "",
            "export_goals-0-mappings-0-braze": "",
            "export_goals-0-mappings-1-source": "static",
            "export_goals-0-mappings-1-braze": "source_system",
            "export_goals-0-mappings-2-source": "",
            "export_goals-0-mappings-2-braze": "",
            "export_goals-0-mappings-3-source": "",
            "export_goals-0-mappings-3-value": "",
            "export_goals-0-mappings-3-braze": "",
        }
    )
    response = submit(admin, "/admin/sync-connections/new", form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "import_goals[0].braze_segment_id: &#39;not-a-uuid&#39; is not valid" in html
    assert 'id="import_goals-0-braze_segment_id-error"' in html
    assert "import_goals[0].identifiers: link at least one identifier" in html
    assert 'id="group-import_goals-0-identifiers"' in html
    assert "export_goals[0].mappings[0].value: required" in html
    assert 'id="export_goals-0-mappings-1-value-error"' in html
    assert configuration.list_objects(deps, "sync_connections") == []


def test_add_a_goal_in_the_blank_row_and_remove_one(seeded: FlaskClient, deps: Deps) -> None:
    response = post_as_rendered(
        seeded,
        URL,
        **{
            "import_goals-1-code": "braze-all",
            "import_goals-1-braze_segment_id": "00000000-aaaa-bbbb-cccc-000000000002",
            "import_goals-1-identifiers-0-braze": "email",
            "import_goals-1-identifiers-0-profile": "email",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    goals = stored(deps)["import_goals"]
    assert [g["code"] for g in goals] == ["braze-loyalty", "braze-all"]
    assert goals[1]["identifiers"] == [{"braze": "email", "profile": "email"}]
    assert goals[1]["mappings"] == [] and goals[1]["allow_create"] is False
    assert post_as_rendered(seeded, URL, **{"import_goals-0-remove": "y"}).status_code == 302
    assert [g["code"] for g in stored(deps)["import_goals"]] == ["braze-all"]


def test_more_rows_adds_blank_goal_and_mapping_rows(seeded: FlaskClient, deps: Deps) -> None:
    before = stored(deps)
    response = post_as_rendered(seeded, URL, more_rows="1")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="import_goals-3-code"' in html and 'name="export_goals-3-code"' in html
    assert 'name="import_goals-0-mappings-5-braze"' in html
    assert stored(deps) == before


def test_turning_the_connection_off_and_changing_a_mapping(seeded: FlaskClient, deps: Deps) -> None:
    response = post_as_rendered(
        seeded,
        URL,
        enabled=[],
        **{"import_goals-0-mappings-1-strategy": "set", "export_goals-0-create_if_missing": "y"},
    )
    assert response.status_code == 302
    expected = copy.deepcopy(EXPECTED_SYNC_CONNECTION)
    expected["enabled"] = False
    expected["import_goals"][0]["mappings"][1]["strategy"] = "set"
    expected["export_goals"][0]["create_if_missing"] = True
    assert stored(deps) == expected


def test_delete_and_a_segment_still_in_use(seeded: FlaskClient, deps: Deps) -> None:
    refused = submit(seeded, "/admin/segments/vip/delete", {})
    assert refused.status_code == 409
    assert "still used by sync_connection braze-profiles" in refused.get_data(as_text=True)
    assert submit(seeded, URL + "delete", {}).status_code == 302
    assert configuration.list_objects(deps, "sync_connections") == []
    assert submit(seeded, "/admin/segments/vip/delete", {}).status_code == 302


class SegmentsClient:
    """Stands in for a live Braze client: only the segment list the picker reads."""

    def __init__(self, segments: list[dict[str, Any]] | Exception) -> None:
        self.segments = segments

    def iter_segments(self) -> Iterator[dict[str, Any]]:
        if isinstance(self.segments, Exception):
            raise self.segments
        yield from self.segments


def test_import_goals_pick_a_segment_from_brazes_list(
    admin: FlaskClient, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = [
        {"id": SEGMENT_ID, "name": "Loyalty members", "tags": []},
        {"id": "00000000-aaaa-bbbb-cccc-000000000009", "name": "Lapsed <buyers>", "tags": []},
    ]
    listings: list[int] = []

    def factory(session: Any, connection_id: int) -> SegmentsClient:
        listings.append(connection_id)
        return SegmentsClient(listed)

    monkeypatch.setattr(deps, "braze_factory", factory)
    create_connection(admin)  # live, not sandbox
    assert submit(admin, "/admin/segments/new", segment_form()).status_code == 302
    assert submit(admin, "/admin/sync-connections/new", sync_connection_form()).status_code == 302
    html = admin.get(URL).get_data(as_text=True)
    assert '<select id="import_goals-0-braze_segment_id"' in html
    assert f'<option selected value="{SEGMENT_ID}">Loyalty members ({SEGMENT_ID})</option>' in html
    assert "Lapsed &lt;buyers&gt;" in html
    # Picked from the list as rendered, the goal is unchanged; the save itself asks Braze nothing.
    values = scrape_form(admin.get(URL).get_data(as_text=True))
    asked = len(listings)
    response = admin.post(URL, data=MultiDict([(k, v) for k, vs in values.items() for v in vs]))
    assert response.status_code == 302
    assert len(listings) == asked
    assert stored(deps)["import_goals"][0]["braze_segment_id"] == SEGMENT_ID

    monkeypatch.setattr(
        deps, "braze_factory", lambda session, cid: SegmentsClient(RetryableError("timed out"))
    )
    html = admin.get(URL).get_data(as_text=True)
    assert "segment list could not be read (timed out)" in html
    assert '<input id="import_goals-0-braze_segment_id"' in html


def test_a_sandbox_connection_types_the_segment_id(seeded: FlaskClient) -> None:
    html = seeded.get(URL).get_data(as_text=True)
    assert "braze-main is a sandbox connection" in html
    assert f'value="{SEGMENT_ID}"' in html
