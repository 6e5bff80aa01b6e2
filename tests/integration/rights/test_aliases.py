"""A visitor known only by email on an external_id connection: a Braze user alias through
/users/alias/new, then their choices through /users/track with user_alias + subscription_groups."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db import models
from backend.services.deps import Deps
from tests.fakes.braze_fake import BrazeFake, Fault
from tests.integration.preferences.conftest import GROUPS, PROPERTY, auth
from tests.integration.rights.conftest import email_session, propagate, save

pytestmark = pytest.mark.integration
EMAIL = "only.email@example.com"
ALIAS = {"alias_name": EMAIL, "alias_label": "optline_email"}
NEWS_EMAIL = GROUPS[("newsletter", "email")]
OFFERS_PUSH = GROUPS[("offers", "push")]


def sync_status(client: FlaskClient, bearer: str, topic: str, channel: str) -> str | None:
    body = client.post(
        "/api/public/v1/bootstrap", json={"property": PROPERTY}, headers=auth(bearer)
    ).get_json()
    found = next(t for t in body["topics"] if t["code"] == topic)
    return next(c for c in found["channels"] if c["channel"] == channel)["sync_status"]


def test_email_only_visitors_get_an_alias_and_their_choices_follow_it(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    bearer = email_session(client, configured, EMAIL)
    save(
        client,
        [("newsletter", "email", "subscribed"), ("offers", "push", "subscribed")],
        bearer=bearer,
    )
    with configured.session() as session:
        rows = list(session.scalars(select(models.OutboxEntry)))
    assert {(r.kind, r.identifier_type, r.identifier, r.status) for r in rows} == {
        ("alias_subscription", "alias", EMAIL, "pending")
    }
    report = propagate(configured)
    assert report.sent == 2 and report.dead == 0

    created = [r.body for r in braze.requests_to("/users/alias/new")]
    assert created == [{"user_aliases": [ALIAS]}]
    tracked = [r.body for r in braze.requests_to("/users/track")]
    assert tracked == [
        {
            "attributes": [
                {
                    "user_alias": ALIAS,
                    "_update_existing_only": False,
                    "email": EMAIL,
                    "subscription_groups": [
                        {"subscription_group_id": NEWS_EMAIL, "subscription_state": "subscribed"},
                        {"subscription_group_id": OFFERS_PUSH, "subscription_state": "subscribed"},
                    ],
                }
            ]
        }
    ]
    assert braze.requests_to("/subscription/status/set") == []  # it cannot address aliases
    user = braze.user(alias=(EMAIL, "optline_email"))
    assert user is not None and user["external_id"] is None
    assert user["subscription_groups"][NEWS_EMAIL] == "subscribed"
    assert sync_status(client, bearer, "newsletter", "email") == "synced"
    with configured.session() as session:
        subject = session.scalars(select(models.Subject)).one()
    assert subject.braze_alias == EMAIL

    # Later choices reuse the alias: no second /users/alias/new.
    save(client, [("newsletter", "email", "unsubscribed")], bearer=bearer)
    propagate(configured)
    assert len(braze.requests_to("/users/alias/new")) == 1
    assert braze.group_state(NEWS_EMAIL, email=EMAIL) == "unsubscribed"


def test_unsubscribe_all_sets_the_alias_global_states(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    bearer = email_session(client, configured, EMAIL)
    save(client, [("newsletter", "email", "subscribed")], bearer=bearer)
    propagate(configured)
    response = client.post(
        "/api/public/v1/preferences",
        json={"property": PROPERTY, "unsubscribe_all": True},
        headers=auth(bearer),
    )
    assert response.status_code == 200
    propagate(configured)
    last = braze.requests_to("/users/track")[-1].body["attributes"][0]
    assert last["user_alias"] == ALIAS
    assert last["email_subscribe"] == "unsubscribed" and last["push_subscribe"] == "unsubscribed"
    assert braze.user(alias=(EMAIL, "optline_email"))["attributes"]["email_subscribe"] == (
        "unsubscribed"
    )


def test_a_rate_limited_alias_call_is_retried_later_and_nothing_is_lost(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    bearer = email_session(client, configured, EMAIL)
    save(client, [("newsletter", "email", "subscribed")], bearer=bearer)
    braze.script("/users/alias/new", [Fault(status=429, reset_in=1)])
    first = propagate(configured)
    assert first.retried == 1 and first.sent == 0
    with configured.session() as session:
        row = session.scalars(select(models.OutboxEntry)).one()
        row.next_attempt_at = configured.clock()  # due again now
    second = propagate(configured)
    assert second.sent == 1
    assert braze.group_state(NEWS_EMAIL, email=EMAIL) == "subscribed"
