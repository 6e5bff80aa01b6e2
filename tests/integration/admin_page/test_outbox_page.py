"""Propagation on the settings page: depth per status, sync lag, dead letters with masked
identifiers, replay of the selected rows or of all, and the per-connection filter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from backend.db.models import OutboxEntry
from backend.domain.preferences import Change
from backend.services import preferences
from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import (
    GROUP_SMS,
    connection_form,
    create_connection,
    csrf_token,
    submit,
    subscription_form,
)

PEOPLE = ("visitor-1234", "visitor-5678")


@pytest.fixture
def dead(admin: FlaskClient, deps: Deps) -> list[int]:
    """Two people's newsletter choices, both dead after repeated failures."""
    create_connection(admin, sandbox="y")
    form = subscription_form(
        **{
            "channels-1-channel": "sms",
            "channels-1-connection": "braze-main",
            "channels-1-subscription_group_id": GROUP_SMS,
        }
    )
    assert submit(admin, "/admin/subscriptions/new", form).status_code == 302
    for person in PEOPLE:
        preferences.admin_set_preferences(
            deps,
            external_id=person,
            email=None,
            actor="test",
            source="api",
            changes=[Change("newsletter", "email", "subscribed")],
        )
    with deps.session() as session:
        session.execute(
            update(OutboxEntry).values(
                status="dead",
                attempts=8,
                last_error="Braze answered 500 after 8 attempts",
                created_at=deps.clock() - timedelta(minutes=5),
            )
        )
        return list(session.scalars(select(OutboxEntry.id).order_by(OutboxEntry.id)))


def statuses(deps: Deps) -> dict[int, str]:
    with deps.session() as session:
        return dict(session.execute(select(OutboxEntry.id, OutboxEntry.status)).all())


def test_page_shows_depth_lag_and_masked_dead_letters(admin: FlaskClient, dead: list[int]) -> None:
    html = admin.get("/admin/outbox").get_data(as_text=True)
    assert f'<dd data-outbox-status="dead">{len(dead)}</dd>' in html
    assert '<dd data-outbox-status="pending">0</dd>' in html
    assert "Braze answered 500 after 8 attempts" in html
    assert "vi***34" in html and "vi***78" in html
    for person in PEOPLE:
        assert person not in html  # identifiers are masked
    assert "<code>braze-main</code>" in html


def test_replay_selected_rows_turns_them_pending(
    admin: FlaskClient, deps: Deps, dead: list[int]
) -> None:
    token = csrf_token(admin.get("/admin/outbox").get_data(as_text=True))
    response = admin.post(
        "/admin/outbox/replay", data={"csrf_token": token, "ids": [dead[0]], "scope": "selected"}
    )
    assert response.status_code == 302
    assert statuses(deps) == {dead[0]: "pending", **dict.fromkeys(dead[1:], "dead")}
    html = admin.get("/admin/outbox").get_data(as_text=True)
    assert "1 dead row(s) back to pending." in html
    assert '<dd data-outbox-status="pending">1</dd>' in html


def test_replay_all(admin: FlaskClient, deps: Deps, dead: list[int]) -> None:
    token = csrf_token(admin.get("/admin/outbox").get_data(as_text=True))
    response = admin.post("/admin/outbox/replay", data={"csrf_token": token, "scope": "all"})
    assert response.status_code == 302
    assert set(statuses(deps).values()) == {"pending"}


def test_replay_selected_without_rows_replays_nothing(
    admin: FlaskClient, deps: Deps, dead: list[int]
) -> None:
    token = csrf_token(admin.get("/admin/outbox").get_data(as_text=True))
    response = admin.post("/admin/outbox/replay", data={"csrf_token": token, "scope": "selected"})
    assert response.status_code == 302
    assert set(statuses(deps).values()) == {"dead"}
    assert "Tick the rows to replay first" in admin.get("/admin/outbox").get_data(as_text=True)


def test_filter_and_replay_per_connection(admin: FlaskClient, deps: Deps, dead: list[int]) -> None:
    assert (
        submit(
            admin, "/admin/braze-connections/new", connection_form(code="braze-eu", sandbox="y")
        ).status_code
        == 302
    )
    other = admin.get("/admin/outbox?connection=braze-eu").get_data(as_text=True)
    assert "No dead letters for braze-eu." in other
    assert '<option value="braze-eu" selected>' in other
    token = csrf_token(other)
    response = admin.post(
        "/admin/outbox/replay",
        data={"csrf_token": token, "scope": "all", "connection": "braze-eu"},
    )
    assert response.headers["Location"] == "/admin/outbox?connection=braze-eu"
    assert set(statuses(deps).values()) == {"dead"}  # none of braze-eu's: nothing replayed
    mine = admin.get("/admin/outbox?connection=braze-main").get_data(as_text=True)
    assert "vi***34" in mine
