"""Saves reach the Braze fake over HTTP: the right bodies, batching, retries, dead letters."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db import models
from backend.services import propagation
from backend.services.deps import Deps
from tests.fakes.braze_fake import BrazeFake, Fault
from tests.integration.preferences.conftest import (
    GROUPS,
    PROPERTY,
    auth,
    configure,
    connection_id,
    token,
)

pytestmark = pytest.mark.integration
SET = "/subscription/status/set"
TRACK = "/users/track"
NEWS_EMAIL = GROUPS[("newsletter", "email")]


def save(
    client: FlaskClient, changes: list[tuple[str, str, str]], sub: str = "user-1", **extra: Any
) -> dict[str, Any]:
    body = {
        "property": PROPERTY,
        "changes": [{"subscription": t, "channel": c, "state": s} for t, c, s in changes],
        **extra,
    }
    response = client.post(
        "/api/public/v1/preferences",
        json=body,
        headers=auth(token(sub, email=f"{sub}@example.com")),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def run(deps: Deps, **kwargs: Any) -> propagation.Report:
    return propagation.propagate_connection(deps, connection_id(deps), rand=lambda: 0.0, **kwargs)


def ok_bodies(fake: BrazeFake, path: str) -> list[Any]:
    return [r.body for r in fake.requests_to(path) if r.status < 300]


def sync_status(client: FlaskClient, topic: str, channel: str, sub: str = "user-1") -> str | None:
    body = client.post(
        "/api/public/v1/bootstrap", json={"property": PROPERTY}, headers=auth(token(sub))
    ).get_json()
    found = next(t for t in body["topics"] if t["code"] == topic)
    return next(c for c in found["channels"] if c["channel"] == channel)["sync_status"]


def outbox(deps: Deps) -> list[models.OutboxEntry]:
    with deps.session() as session:
        return list(session.scalars(select(models.OutboxEntry).order_by(models.OutboxEntry.id)))


def test_a_save_reaches_braze_with_the_right_body(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    save(client, [("newsletter", "email", "subscribed")])
    report = run(configured)
    assert report.sent == 1 and report.dead == 0
    assert ok_bodies(braze, SET) == [
        {
            "subscription_group_id": NEWS_EMAIL,
            "subscription_state": "subscribed",
            "external_id": ["user-1"],
        }
    ]
    # create_missing_users: the user was created (with the token's email) before the group was set.
    assert ok_bodies(braze, TRACK) == [
        {
            "attributes": [
                {
                    "external_id": "user-1",
                    "_update_existing_only": False,
                    "email": "user-1@example.com",
                }
            ]
        }
    ]
    assert braze.group_state(NEWS_EMAIL, external_id="user-1") == "subscribed"
    assert sync_status(client, "newsletter", "email") == "synced"
    # Nothing left: a second run sends nothing.
    assert run(configured).requests == 0 and len(braze.requests) == 2


def test_turning_off_unsubscribes_and_the_user_is_created_once(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    save(client, [("newsletter", "email", "subscribed")])
    run(configured)
    save(client, [("newsletter", "email", "unsubscribed")])
    run(configured)
    assert braze.group_state(NEWS_EMAIL, external_id="user-1") == "unsubscribed"
    assert len(braze.requests_to(TRACK)) == 1
    assert sync_status(client, "newsletter", "email") == "synced"


def test_pending_changes_coalesce_and_the_latest_wins(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    for state in ("subscribed", "unsubscribed", "subscribed", "unsubscribed"):
        save(client, [("newsletter", "email", state)])
    run(configured)
    assert [b["subscription_state"] for b in ok_bodies(braze, SET)] == ["unsubscribed"]
    assert [r.status for r in outbox(configured)].count("superseded") == 3


def test_unsubscribe_all_sets_every_group_and_the_global_states(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    save(client, [("newsletter", "email", "subscribed"), ("offers", "push", "subscribed")])
    run(configured)
    save(client, [], unsubscribe_all=True)
    run(configured)
    for group in GROUPS.values():
        assert braze.group_state(group, external_id="user-1") == "unsubscribed"
    globals_sent = [
        a for b in ok_bodies(braze, TRACK) for a in b["attributes"] if "email_subscribe" in a
    ]
    assert globals_sent == [
        {
            "external_id": "user-1",
            "_update_existing_only": False,
            "email_subscribe": "unsubscribed",
            "push_subscribe": "unsubscribed",
        }
    ]
    assert braze.user("user-1")["attributes"]["email_subscribe"] == "unsubscribed"
    # Opting in to an email topic again lifts the global email unsubscribe, and only that.
    save(client, [("offers", "email", "subscribed")])
    run(configured)
    last = ok_bodies(braze, TRACK)[-1]["attributes"][0]
    assert last["email_subscribe"] == "subscribed" and "push_subscribe" not in last


def test_a_429_waits_for_the_reset_then_delivers_once(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    save(client, [("newsletter", "email", "subscribed")])
    run(configured)  # creates the user; the group call follows
    save(client, [("newsletter", "email", "unsubscribed")])
    braze.script(SET, [Fault(status=429, reset_in=2.0)])
    started = time.monotonic()
    first = run(configured)
    assert first.retried == 1 and first.sent == 0
    (row,) = [r for r in outbox(configured) if r.status == "pending"]
    assert row.attempts == 1 and row.next_attempt_at >= configured.clock() + timedelta(seconds=1)
    assert run(configured).requests == 0  # not due yet: nothing sent before the reset
    while time.monotonic() - started < 2.1:
        time.sleep(0.1)
    assert run(configured).sent == 1
    statuses = [r.status for r in braze.requests_to(SET)]
    assert statuses == [201, 429, 201]  # delivered once, after the reset
    assert braze.group_state(NEWS_EMAIL, external_id="user-1") == "unsubscribed"


def test_server_errors_are_retried_then_delivered(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    braze.script(SET, [Fault(status=500), Fault(status=503)])
    save(client, [("newsletter", "email", "subscribed")])
    assert run(configured).retried == 1
    assert sync_status(client, "newsletter", "email") == "pending"
    assert run(configured).retried == 1
    assert run(configured).sent == 1
    assert [r.status for r in braze.requests_to(SET)] == [500, 503, 201]
    assert sync_status(client, "newsletter", "email") == "synced"


def test_eight_failures_go_dead_and_a_replay_delivers(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    from backend.services.admin_auth import create_api_token

    braze.fail_all(SET, 500)
    save(client, [("newsletter", "email", "subscribed")])
    for _ in range(8):
        run(configured)
    (row,) = [r for r in outbox(configured) if r.kind == "subscription_group"]
    assert row.status == "dead" and row.attempts == 8
    assert (row.last_error or "").startswith("gave up after 8 attempts")
    assert sync_status(client, "newsletter", "email") == "failed"
    assert run(configured).requests == 0  # dead rows stay put
    braze.clear_faults()
    api = create_api_token(configured, "ops")
    listed = client.get("/api/admin/v1/outbox?status=dead", headers=auth(api)).get_json()
    assert listed["counts"]["dead"] == 1 and listed["entries"][0]["attempts"] == 8
    replay = client.post(
        "/api/admin/v1/outbox/replay", json={"connection": "braze-main"}, headers=auth(api)
    )
    assert replay.get_json() == {"replayed": 1, "superseded": 0}
    assert sync_status(client, "newsletter", "email") == "pending"
    assert run(configured).sent == 1
    assert sync_status(client, "newsletter", "email") == "synced"
    assert braze.group_state(NEWS_EMAIL, external_id="user-1") == "subscribed"


def test_a_permanent_error_is_dead_at_once_with_brazes_message(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    braze.script(SET, [Fault(status=400, body={"message": "Invalid subscription group"})])
    save(client, [("newsletter", "email", "subscribed")])
    assert run(configured).dead == 1
    (row,) = [r for r in outbox(configured) if r.kind == "subscription_group"]
    assert row.status == "dead" and "Invalid subscription group" in (row.last_error or "")
    assert sync_status(client, "newsletter", "email") == "failed"


def test_a_newer_change_keeps_the_preference_pending(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    save(client, [("newsletter", "email", "subscribed")])
    claim = propagation.outbox.claim(configured, connection_id(configured))  # in flight...
    save(client, [("newsletter", "email", "unsubscribed")])  # ...while the person changes again
    outcome = propagation.outbox.Outcome(sent=[r.item.id for r in claim.rows])
    propagation.outbox.record_outcome(configured, connection_id(configured), outcome, lambda: 0.0)
    assert sync_status(client, "newsletter", "email") == "pending"


def test_120_changes_to_one_group_take_at_most_3_requests(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    for n in range(120):
        save(client, [("newsletter", "email", "subscribed")], sub=f"user-{n}")
    report = run(configured)
    assert report.sent == 120
    sets = ok_bodies(braze, SET)
    assert len(sets) <= 3 and sorted(len(b["external_id"]) for b in sets) == [20, 50, 50]
    assert all(len(b["attributes"]) <= 75 for b in ok_bodies(braze, TRACK))
    assert all(
        braze.group_state(NEWS_EMAIL, external_id=f"user-{n}") == "subscribed" for n in range(120)
    )


def test_users_track_item_errors_map_back_to_their_rows(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    save(client, [("newsletter", "email", "subscribed")], sub="good")
    save(client, [("newsletter", "email", "subscribed")], sub="bad")
    rejected = {"type": "'email' is not a valid email.", "input_array": "attributes", "index": 1}
    braze.script(TRACK, [Fault(status=201, body={"message": "success", "errors": [rejected]})])
    report = run(configured)
    assert report.sent == 1 and report.dead == 1
    assert [b["external_id"] for b in ok_bodies(braze, SET)] == [["good"]]
    dead = [r for r in outbox(configured) if r.status == "dead"]
    assert [r.identifier for r in dead] == ["bad"] and "not a valid email" in (
        dead[0].last_error or ""
    )


def test_email_identity_sends_emails(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    configure(configured, braze.url, identity="email")
    save(client, [("newsletter", "email", "subscribed"), ("newsletter", "sms", "subscribed")])
    run(configured)
    assert ok_bodies(braze, SET) == [
        {
            "subscription_group_id": NEWS_EMAIL,
            "subscription_state": "subscribed",
            "email": ["user-1@example.com"],
        }
    ]
    # SMS groups cannot be set by email on /subscription/status/set: /users/track does it.
    sms = {
        "subscription_group_id": GROUPS[("newsletter", "sms")],
        "subscription_state": "subscribed",
    }
    assert ok_bodies(braze, TRACK) == [
        {"attributes": [{"email": "user-1@example.com", "subscription_groups": [sms]}]}
    ]


def test_without_create_missing_users_no_user_is_created(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    configure(configured, braze.url, create_missing_users=False)
    save(client, [("newsletter", "email", "subscribed")])
    run(configured)
    assert braze.requests_to(TRACK) == [] and len(ok_bodies(braze, SET)) == 1


def test_a_sandbox_connection_records_and_sends_nothing(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    configure(configured, braze.url, sandbox=True)
    save(client, [("newsletter", "email", "subscribed")])
    assert run(configured).sent == 1
    assert braze.requests == []
    with configured.session() as session:
        records = list(
            session.scalars(
                select(models.BrazeRequestRecord).order_by(models.BrazeRequestRecord.id)
            )
        )
    assert [r.path for r in records] == [TRACK, SET]
    assert records[1].body == {
        "subscription_group_id": NEWS_EMAIL,
        "subscription_state": "subscribed",
        "external_id": ["user-1"],
    }
    assert sync_status(client, "newsletter", "email") == "synced"


def test_a_newer_state_waits_out_a_request_that_timed_out_but_may_still_land(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    """Braze answers too late (after the client gave up) yet applies the request: the newer
    state must not be sent before that straggler lands, or the straggler would overwrite it."""
    from backend.integrations.braze import BrazeClient
    from backend.wiring import utc_clock

    configured.braze_factory = lambda session, cid: BrazeClient(
        rest_endpoint=braze.url, api_key=braze.api_key, timeout=1.0
    )  # a hold of 3 s: room for a slow machine to save and claim again within it
    braze.script(SET, [Fault(delay=2.0)])
    save(client, [("newsletter", "email", "subscribed")])
    report = run(configured)
    assert report.retried == 1 and report.requests == 2  # user created; the change timed out
    save(client, [("newsletter", "email", "unsubscribed")])
    held = run(configured)
    assert held.sent == 0  # the newer state waits: the first request may still be applied
    newest = outbox(configured)[-1]
    assert newest.state == "unsubscribed" and newest.status == "pending"
    assert newest.hold_until is not None and newest.next_attempt_at >= newest.hold_until

    deadline = time.monotonic() + 15  # the straggler lands about 1 s after the timeout
    while braze.group_state(NEWS_EMAIL, external_id="user-1") is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert braze.group_state(NEWS_EMAIL, external_id="user-1") == "subscribed"  # the straggler
    later = utc_clock() + timedelta(seconds=5)
    configured.clock = lambda: later
    assert run(configured).sent == 1
    assert braze.group_state(NEWS_EMAIL, external_id="user-1") == "unsubscribed"
    assert [r.state for r in outbox(configured) if r.kind == "subscription_group"] == [
        "subscribed",
        "unsubscribed",
    ]
    assert [r.status for r in outbox(configured) if r.kind == "subscription_group"] == [
        "superseded",
        "sent",
    ]


def test_a_refused_connection_is_not_held(configured: Deps, client: FlaskClient) -> None:
    """Only an unanswered request may still land: one that never left is retried as usual."""
    from backend.integrations.braze import BrazeClient

    configured.braze_factory = lambda session, cid: BrazeClient(
        rest_endpoint="http://127.0.0.1:1", api_key="k", timeout=0.3
    )
    save(client, [("newsletter", "email", "subscribed")])
    run(configured)
    assert all(r.hold_until is None for r in outbox(configured))
