"""Segments on the settings page: rule segments edited as YAML or JSON with the service's errors
by path, static segments with their members, the members panel, refresh, delete."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from backend.db.models import AuditEntry
from backend.domain.profiles import ProfileInput
from backend.services import configuration, profile_writes
from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import count_rows, submit
from tests.integration.admin_page.sync_page_forms import VIP_RULE, post_as_rendered, segment_form


def test_create_a_rule_segment_from_yaml(admin: FlaskClient, deps: Deps) -> None:
    response = submit(admin, "/admin/segments/new", segment_form())
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/segments/vip/"
    assert configuration.get_object(deps, "segments", "vip") == {
        "code": "vip",
        "name": "VIP customers",
        "rule": VIP_RULE,
    }
    page = admin.get("/admin/segments/vip/").get_data(as_text=True)
    assert "Members now: 0" in page
    assert "property: tier" in page  # the rule is shown back as YAML


def test_a_rule_in_json_and_a_membership_condition(admin: FlaskClient, deps: Deps) -> None:
    assert submit(admin, "/admin/segments/new", segment_form()).status_code == 302
    rule = '{"all": [{"segment": "vip"}, {"property": "country", "op": "eq", "value": "ES"}]}'
    response = submit(
        admin, "/admin/segments/new", segment_form(code="vip-es", name="VIP in Spain", rule=rule)
    )
    assert response.status_code == 302
    assert configuration.get_object(deps, "segments", "vip-es")["rule"] == {
        "all": [{"segment": "vip"}, {"property": "country", "op": "eq", "value": "ES"}]
    }


def test_a_static_segment_lists_its_members(admin: FlaskClient, deps: Deps) -> None:
    form = segment_form(
        code="testers", name="Testers", segment_type="static", rule="", members="u2\nu1\n\n"
    )
    assert submit(admin, "/admin/segments/new", form).status_code == 302
    assert configuration.get_object(deps, "segments", "testers") == {
        "code": "testers",
        "name": "Testers",
        "static": True,
        "members": ["u1", "u2"],
    }
    listing = admin.get("/admin/segments/").get_data(as_text=True)
    assert "static list of 2" in listing


@pytest.mark.parametrize(
    ("rule", "messages"),
    [
        (
            "all:\n- {property: tier, op: equals, value: gold}\n",
            ["rule.all[0].op: "],
        ),
        (
            "any: [{property: tier, op: in, value: gold}, {property: age, op: exists, value: 3}]",
            ["rule.any[0].value: ", "rule.any[1].value: "],
        ),
        ("any: [{segment: nope}]", ["rule.any[0].segment: "]),
        ("", ["rule: required"]),
        ("all: [unclosed", ["This is not valid YAML or JSON (line 1"]),
    ],
)
def test_rule_problems_are_named_by_path_and_nothing_is_written(
    admin: FlaskClient, deps: Deps, rule: str, messages: list[str]
) -> None:
    audit = count_rows(deps, AuditEntry)
    response = submit(admin, "/admin/segments/new", segment_form(rule=rule))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for message in messages:
        assert message in html
    assert 'id="rule-error"' in html  # beside the rule's textarea
    assert configuration.list_objects(deps, "segments") == []
    assert count_rows(deps, AuditEntry) == audit


def test_edit_switch_to_static_and_back(admin: FlaskClient, deps: Deps) -> None:
    assert submit(admin, "/admin/segments/new", segment_form()).status_code == 302
    url = "/admin/segments/vip/"
    response = post_as_rendered(admin, url, segment_type="static", members="c1\nc2")
    assert response.status_code == 302
    assert configuration.get_object(deps, "segments", "vip")["members"] == ["c1", "c2"]
    response = post_as_rendered(admin, url, segment_type="rule", rule="all: []")
    assert response.status_code == 302
    assert configuration.get_object(deps, "segments", "vip") == {
        "code": "vip",
        "name": "VIP customers",
        "rule": {"all": []},
    }


def test_members_panel_and_refresh(admin: FlaskClient, deps: Deps) -> None:
    profile_writes.upsert_profiles(
        deps,
        [
            ProfileInput(external_id="gold-es", properties={"tier": "gold", "country": "ES"}),
            ProfileInput(external_id="gold-fr", properties={"tier": "gold", "country": "FR"}),
        ],
    )
    assert submit(admin, "/admin/segments/new", segment_form()).status_code == 302
    page = admin.get("/admin/segments/vip/").get_data(as_text=True)
    assert "Members now: 1" in page and "<code>gold-es</code>" in page
    assert "gold-fr" not in page
    response = submit(admin, "/admin/segments/vip/", {}, action="/admin/segments/vip/refresh")
    assert response.status_code == 302
    assert "Segment vip refreshed" in admin.get("/admin/segments/vip/").get_data(as_text=True)


def test_delete_a_segment(admin: FlaskClient, deps: Deps) -> None:
    assert submit(admin, "/admin/segments/new", segment_form()).status_code == 302
    assert submit(admin, "/admin/segments/vip/delete", {}).status_code == 302
    assert configuration.list_objects(deps, "segments") == []
