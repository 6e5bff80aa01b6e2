"""POST /u/<property> (RFC 8058): a signed one-click unsubscribe answers 200 without a redirect,
goes through the consent path (ledger source "one_click", outbox rows, a propagation job) and
is idempotent; a GET only shows a form; a bad link or body changes nothing."""

from __future__ import annotations

import time

import pytest
from flask.testing import FlaskClient

from backend.services.deps import Deps
from backend.services.suppressions import suppress
from tests.integration.hosted.conftest import (
    DAY,
    PROPERTY,
    jobs_named,
    ledger,
    link,
    outbox,
    row_counts,
)
from tests.integration.preferences.conftest import GROUPS, auth, token

pytestmark = pytest.mark.integration
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
CHANNELS = {(topic, channel) for topic, channel in GROUPS}


def subscribe_everything(client: FlaskClient, sub: str = "user-1") -> None:
    changes = [
        {"subscription": topic, "channel": channel, "state": "subscribed"}
        for topic, channel in sorted(CHANNELS)
    ]
    response = client.post(
        f"/api/public/v1/{PROPERTY}/preferences",
        json={"property": PROPERTY, "changes": changes},
        headers=auth(token(sub)),
    )
    assert response.status_code == 200


def test_one_click_unsubscribes_from_everything_once(client: FlaskClient, configured: Deps) -> None:
    subscribe_everything(client)
    configured.jobs.calls.clear()
    before = len(ledger(configured))
    url = link("user-1", path="/u/")
    response = client.post(url, data=ONE_CLICK, headers={"User-Agent": "Gmail one-click"})
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "unsubscribed" in response.get_data(as_text=True)
    entries = ledger(configured)[before:]
    assert {e.source for e in entries} == {"one_click"}
    assert {e.proof for e in entries} == {"hmac_link"}
    assert {(e.subscription, e.channel, e.state) for e in entries} >= {
        (topic, channel, "unsubscribed") for topic, channel in CHANNELS
    }
    # ... and the global email/push states, as unsubscribe-from-all always does.
    assert {(e.subscription, e.channel) for e in entries if e.subscription == "*"} == {
        ("*", "email"),
        ("*", "push"),
    }
    assert entries[0].user_agent == "Gmail one-click"
    queued = [o for o in outbox(configured) if o.status == "pending" and o.state == "unsubscribed"]
    assert {o.target for o in queued if o.kind == "subscription_group"} == set(GROUPS.values())
    assert {o.kind for o in queued} >= {"email_subscribe", "push_subscribe"}
    assert jobs_named(configured, "propagat"), "no propagation job was enqueued"

    counts = row_counts(configured)
    again = client.post(url, data=ONE_CLICK)
    assert again.status_code == 200
    assert row_counts(configured) == counts  # idempotent: nothing more is written


def test_one_click_for_one_topic_leaves_the_others_alone(
    client: FlaskClient, configured: Deps
) -> None:
    subscribe_everything(client)
    before = len(ledger(configured))
    response = client.post(link("user-1", path="/u/", topic="newsletter"), data=ONE_CLICK)
    assert response.status_code == 200
    assert "Newsletter" in response.get_data(as_text=True)
    entries = ledger(configured)[before:]
    assert {(e.subscription, e.channel, e.state) for e in entries} == {
        ("newsletter", "email", "unsubscribed"),
        ("newsletter", "sms", "unsubscribed"),
    }


def test_one_click_for_someone_never_seen_records_the_opt_out(
    client: FlaskClient, configured: Deps
) -> None:
    response = client.post(link("braze-only-user", path="/u/"), data=ONE_CLICK)
    assert response.status_code == 200
    entries = ledger(configured)
    assert entries and {e.source for e in entries} == {"one_click"}
    assert {o.identifier for o in outbox(configured)} == {"braze-only-user"}


def test_the_get_only_shows_a_confirmation_form(client: FlaskClient, configured: Deps) -> None:
    before = row_counts(configured)
    url = link("user-1", path="/u/")
    response = client.get(url)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<form method="post"' in html
    assert 'name="List-Unsubscribe" value="One-Click"' in html
    assert "Unsubscribe from every message from ACME website?" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert row_counts(configured) == before  # a scanner following the link changes nothing

    # The button posts to the same signed URL; a browser gets a page back, still no redirect.
    done = client.post(url, data=ONE_CLICK, headers={"Accept": "text/html,*/*;q=0.8"})
    assert done.status_code == 200 and "Location" not in done.headers
    assert "You are unsubscribed from every message" in done.get_data(as_text=True)


def test_a_topic_link_asks_about_that_topic(client: FlaskClient, configured: Deps) -> None:
    html = client.get(link(path="/u/", topic="offers")).get_data(as_text=True)
    assert "Unsubscribe from “Offers”?" in html
    assert client.get(link(path="/u/", topic="nope")).status_code == 400


def bad_posts() -> dict[str, tuple[str, dict[str, str], int]]:
    now = int(time.time())
    return {
        "forged": (link(path="/u/", edit={"sig": "f" * 64}), ONE_CLICK, 403),
        "altered uid": (link("user-1", path="/u/", edit={"uid": "user-2"}), ONE_CLICK, 403),
        "altered topic": (
            link(path="/u/", topic="offers", edit={"topic": "newsletter"}),
            ONE_CLICK,
            403,
        ),
        "topic dropped": (
            link(path="/u/", topic="offers", edit={"topic": ""}),
            ONE_CLICK,
            403,
        ),
        "expired": (link(path="/u/", ts=now - 61 * DAY), ONE_CLICK, 403),
        "another property's": (link(path="/u/", signed_property="other-site"), ONE_CLICK, 403),
        "no one-click body": (link(path="/u/"), {}, 400),
        "wrong body": (link(path="/u/"), {"List-Unsubscribe": "Yes"}, 400),
        "unknown topic": (link(path="/u/", topic="nope"), ONE_CLICK, 400),
    }


@pytest.mark.parametrize("kind", list(bad_posts()))
def test_a_bad_one_click_changes_nothing(client: FlaskClient, configured: Deps, kind: str) -> None:
    subscribe_everything(client)
    configured.jobs.calls.clear()
    before = row_counts(configured)
    url, body, status = bad_posts()[kind]
    response = client.post(url, data=body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert "Location" not in response.headers
    assert row_counts(configured) == before
    assert configured.jobs.calls == []


def test_one_click_for_an_erased_person_writes_nothing(
    client: FlaskClient, configured: Deps
) -> None:
    with configured.session() as session:
        suppress(configured, session, external_ids=["erased-user"])
    before = row_counts(configured)
    response = client.post(link("erased-user", path="/u/"), data=ONE_CLICK)
    assert response.status_code == 200
    assert row_counts(configured) == before
