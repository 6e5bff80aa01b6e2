"""Segment and sync connection edit forms submitted exactly as rendered change nothing: every
stored field, nested goal rows included, is on the form (and the webhook stays a kept secret)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from backend.services import configuration
from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import (
    assert_edit_form_round_trips,
    scrape_form,
    submit,
)
from tests.integration.admin_page.sync_page_forms import (
    WEBHOOK,
    seed_sync,
    segment_form,
)


@pytest.fixture
def configured(admin: FlaskClient) -> FlaskClient:
    seed_sync(
        admin,
        schedule_kind="days",
        schedule_days=["mon", "thu"],
        schedule_at="06:30",
        schedule_timezone="Europe/Madrid",
        notify_webhook=WEBHOOK,
        **{
            "import_goals-0-identifiers-0-braze": "email",
            "import_goals-0-identifiers-0-profile": "email",
            "import_goals-0-remaining_fields_enabled": None,
            "import_goals-0-remaining_fields_prefix": "",
            "import_goals-0-remaining_fields_strategy": "clear",
            "export_goals-0-create_if_missing": "y",
            "export_goals-0-destinations_s3_cdi": "y",
            "export_goals-0-mappings-1-source": "identifier",
            "export_goals-0-mappings-1-name": "braze_id",
        },
    )
    static = segment_form(
        code="testers", name="Testers", segment_type="static", rule="", members="u1\nu2"
    )
    assert submit(admin, "/admin/segments/new", static).status_code == 302
    nested = segment_form(
        code="vip-es",
        name="VIP in Spain",
        rule="all:\n- segment: vip\n- not: {property: country, op: ne, value: ES}\n"
        "- {property: score, op: gte, value: 1.5}\n"
        "- {property: tags, op: contains, value: 'yes'}\n",
    )
    assert submit(admin, "/admin/segments/new", nested).status_code == 302
    return admin


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("segments", "/admin/segments/vip/"),
        ("segments", "/admin/segments/vip-es/"),
        ("segments", "/admin/segments/testers/"),
        ("sync_connections", "/admin/sync-connections/braze-profiles/"),
    ],
)
def test_edit_form_as_rendered_changes_nothing(
    configured: FlaskClient, deps: Deps, kind: str, url: str
) -> None:
    assert_edit_form_round_trips(configured, deps, kind, url)


def test_the_round_trip_fixture_stores_what_it_says(configured: FlaskClient, deps: Deps) -> None:
    stored = configuration.get_object(deps, "sync_connections", "braze-profiles")
    assert stored["schedule"] == {
        "days": ["mon", "thu"],
        "at": "06:30",
        "timezone": "Europe/Madrid",
    }
    assert stored["notify"]["webhook"] == "<redacted>"
    goal = stored["export_goals"][0]
    assert goal["destinations"] == {"braze": True, "s3_cdi": True}
    assert goal["mappings"][1] == {
        "source": "identifier",
        "name": "braze_id",
        "braze": "optline_segments",
    }
    assert stored["import_goals"][0]["remaining_fields"] == {
        "enabled": False,
        "prefix": "",
        "strategy": "clear",
    }
    assert configuration.get_object(deps, "segments", "vip-es")["rule"]["all"][2] == {
        "property": "score",
        "op": "gte",
        "value": 1.5,
    }


def test_a_goal_with_many_mappings_from_the_file_round_trips(
    configured: FlaskClient, deps: Deps
) -> None:
    definition = configuration.get_object(deps, "sync_connections", "braze-profiles")
    definition["notify"]["webhook"] = None
    definition["import_goals"][0]["mappings"] = [
        {"braze": f"attribute_{i}", "profile": f"field_{i}", "strategy": "set"} for i in range(60)
    ]
    configuration.put_object(deps, "sync_connections", definition, actor="file")
    url = "/admin/sync-connections/braze-profiles/"
    before = configuration.get_object(deps, "sync_connections", "braze-profiles")
    values = scrape_form(configured.get(url).get_data(as_text=True))
    response = configured.post(
        url, data=MultiDict([(name, value) for name, items in values.items() for value in items])
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert configuration.get_object(deps, "sync_connections", "braze-profiles") == before
