"""Visitor lookup: states and sync status per topic × channel, the ledger newest first with its
hashes, the profile, and an admin edit that the ledger records with source "admin"."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from backend.db.models import Preference
from backend.domain.preferences import Change
from backend.services import ledger, preferences
from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import (
    ADMIN_EMAIL,
    GROUP_SMS,
    create_connection,
    submit,
    subscription_form,
)
from tests.integration.admin_page.sync_page_forms import scrape_form_of

LOOKUP = "/admin/visitors?by=external_id&value=visitor-1"


@pytest.fixture
def visitor(admin: FlaskClient, deps: Deps) -> FlaskClient:
    """visitor-1: email subscribed (synced), then sms unsubscribed (pending)."""
    create_connection(admin, sandbox="y")
    form = subscription_form(
        **{
            "channels-1-channel": "sms",
            "channels-1-connection": "braze-main",
            "channels-1-subscription_group_id": GROUP_SMS,
        }
    )
    assert submit(admin, "/admin/subscriptions/new", form).status_code == 302
    for change in (
        Change("newsletter", "email", "subscribed"),
        Change("newsletter", "sms", "unsubscribed"),
    ):
        preferences.admin_set_preferences(
            deps,
            external_id="visitor-1",
            email=None,
            changes=[change],
            actor="api:ci",
            source="api",
        )
    with deps.session() as session:
        session.execute(
            update(Preference).where(Preference.state == "subscribed").values(sync_status="synced")
        )
    return admin


def edit_form(client: FlaskClient, url: str = LOOKUP) -> dict[str, list[str]]:
    """The lookup page's edit form, as a browser would submit it."""
    return scrape_form_of(client.get(url).get_data(as_text=True), "visitor-form")


def rows_of(values: dict[str, list[str]]) -> dict[tuple[str, str], str]:
    """(topic, channel) → the select's name in the edit form."""
    found = {}
    for name, items in values.items():
        if name.endswith("-subscription"):
            prefix = name[: -len("subscription")]
            found[(items[0], values[prefix + "channel"][0])] = prefix + "state"
    return found


def test_lookup_shows_states_sync_status_and_the_ledger(visitor: FlaskClient, deps: Deps) -> None:
    html = visitor.get(LOOKUP).get_data(as_text=True)
    assert 'class="badge badge--ok">subscribed</span>' in html
    assert 'class="badge">unsubscribed</span>' in html
    assert 'class="badge badge--ok">synced</span>' in html
    assert 'class="badge badge--live">pending</span>' in html
    entries = ledger.entries_for(deps, external_id="visitor-1")
    assert len(entries) == 2
    for entry in entries:
        assert str(entry["hash"]) in html and str(entry["prev_hash"]) in html
    # Newest first: the sms entry comes before the email one.
    assert html.index(str(entries[0]["hash"])) < html.index(str(entries[1]["hash"]))
    assert entries[0]["channel"] == "sms"
    assert entries[0]["prev_hash"] == entries[1]["hash"]


def test_lookup_by_email_and_an_unknown_person(visitor: FlaskClient) -> None:
    html = visitor.get("/admin/visitors?by=email&value=nobody@example.com").get_data(as_text=True)
    assert "No ledger entries for this person." in html
    assert html.count("never chosen") == 2
    assert "No profile with this email." in html


def test_an_empty_or_malformed_lookup_is_refused(visitor: FlaskClient) -> None:
    response = visitor.get("/admin/visitors?by=external_id&value=")
    assert response.status_code == 422
    assert "This field is required." in response.get_data(as_text=True)
    response = visitor.get("/admin/visitors?by=email&value=visitor-1")
    assert response.status_code == 422
    assert "Give an email address, or look up by external id." in response.get_data(as_text=True)
    assert visitor.get("/admin/visitors").status_code == 200


def test_admin_edit_writes_a_ledger_entry_with_source_admin(
    visitor: FlaskClient, deps: Deps
) -> None:
    values = edit_form(visitor)
    select_of = rows_of(values)
    values[select_of[("newsletter", "email")]] = ["unsubscribed"]
    response = visitor.post("/admin/visitors/preferences", data=values)
    assert response.status_code == 302
    assert response.headers["Location"] == LOOKUP
    entries = ledger.entries_for(deps, external_id="visitor-1")
    assert len(entries) == 3
    newest: dict[str, Any] = entries[0]
    assert (newest["subscription"], newest["channel"], newest["state"]) == (
        "newsletter",
        "email",
        "unsubscribed",
    )
    assert newest["source"] == "admin" and newest["proof"] == ADMIN_EMAIL
    assert ledger.verify_chain(deps)["ok"] is True
    html = visitor.get(LOOKUP).get_data(as_text=True)
    assert "1 choice(s) saved and recorded in the ledger (source admin)." in html
    with deps.session() as session:
        states = sorted(session.execute(select(Preference.state, Preference.sync_status)).all())
    assert states == [("unsubscribed", "pending"), ("unsubscribed", "pending")]


def test_the_edit_form_as_rendered_changes_nothing(visitor: FlaskClient, deps: Deps) -> None:
    response = visitor.post("/admin/visitors/preferences", data=edit_form(visitor))
    assert response.status_code == 302
    assert len(ledger.entries_for(deps, external_id="visitor-1")) == 2
    assert "Nothing changed" in visitor.get(LOOKUP).get_data(as_text=True)


def test_admin_can_record_a_choice_for_someone_new(visitor: FlaskClient, deps: Deps) -> None:
    url = "/admin/visitors?by=email&value=New.Person@Example.com"
    values = edit_form(visitor, url)
    values[rows_of(values)[("newsletter", "sms")]] = ["subscribed"]
    assert visitor.post("/admin/visitors/preferences", data=values).status_code == 302
    (entry,) = ledger.entries_for(deps, email="new.person@example.com")
    assert (entry["channel"], entry["state"], entry["source"]) == ("sms", "subscribed", "admin")


def test_an_unknown_topic_is_refused_and_nothing_written(visitor: FlaskClient, deps: Deps) -> None:
    values = edit_form(visitor)
    name = rows_of(values)[("newsletter", "email")]
    values[name.replace("state", "subscription")] = ["no-such-topic"]
    values[name] = ["unsubscribed"]
    response = visitor.post("/admin/visitors/preferences", data=values)
    assert response.status_code == 302
    assert "Nothing was saved: changes[0].subscription: unknown topic" in visitor.get(
        LOOKUP
    ).get_data(as_text=True)
    assert len(ledger.entries_for(deps, external_id="visitor-1")) == 2
