"""Admin API: preferences, ledger and its chain check, outbox depth, edits on someone's behalf."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from backend.services.admin_auth import create_api_token
from backend.services.deps import Deps
from backend.services.ledger import verify_chain
from backend.services.propagation import propagate_connection
from tests.integration.preferences.conftest import PROPERTY, auth, connection_id, token

pytestmark = pytest.mark.integration
API = "/api/admin/v1"


@pytest.fixture
def admin(configured: Deps) -> dict[str, str]:
    return auth(create_api_token(configured, "tests"))


def save(client: FlaskClient, changes: list[tuple[str, str, str]], sub: str = "user-1") -> None:
    body = {
        "property": PROPERTY,
        "changes": [{"subscription": t, "channel": c, "state": s} for t, c, s in changes],
    }
    headers = auth(token(sub, email="jane@example.com")) | {
        "Origin": "https://www.acme.com",
        "User-Agent": "TestBrowser/1",
    }
    assert client.post("/api/public/v1/preferences", json=body, headers=headers).status_code == 200


def test_preferences_read_exactly_as_product_says(
    client: FlaskClient, configured: Deps, admin: dict[str, str]
) -> None:
    save(client, [("newsletter", "email", "subscribed"), ("offers", "push", "unsubscribed")])
    propagate_connection(configured, connection_id(configured))
    body = client.get(f"{API}/preferences?external_id=user-1", headers=admin).get_json()
    assert [set(p) for p in body["preferences"]] == [
        {"subscription", "channel", "state", "sync_status", "updated_at"}
    ] * 2
    assert [
        (p["subscription"], p["channel"], p["state"], p["sync_status"]) for p in body["preferences"]
    ] == [
        ("newsletter", "email", "subscribed", "synced"),
        ("offers", "push", "unsubscribed", "synced"),
    ]
    by_email = client.get(f"{API}/preferences?email=Jane@example.com", headers=admin).get_json()
    assert len(by_email["preferences"]) == 2
    assert client.get(f"{API}/preferences?external_id=nobody", headers=admin).get_json() == {
        "preferences": []
    }


def test_ledger_entries_newest_first_with_their_hashes(
    client: FlaskClient, configured: Deps, admin: dict[str, str]
) -> None:
    save(client, [("newsletter", "email", "subscribed")])
    save(client, [("newsletter", "email", "unsubscribed")])
    entries = client.get(f"{API}/ledger?external_id=user-1", headers=admin).get_json()["entries"]
    assert [set(e) for e in entries] == [
        {
            "id",
            "at",
            "subscription",
            "channel",
            "state",
            "source",
            "proof",
            "property",
            "hash",
            "prev_hash",
        }
    ] * 2
    newest, oldest = entries
    assert newest["id"] > oldest["id"] and newest["prev_hash"] == oldest["hash"]
    assert oldest["prev_hash"] == "0" * 64
    assert (newest["state"], newest["source"], newest["proof"], newest["property"]) == (
        "unsubscribed",
        "widget",
        "token:k1",
        PROPERTY,
    )
    with configured.session() as session:
        row = session.execute(
            text(
                "SELECT origin, user_agent, language, text_version FROM ledger_entries ORDER BY id"
            )
        ).first()
    assert tuple(row) == ("https://www.acme.com", "TestBrowser/1", "en", 1)


def test_ledger_verify_detects_tampering(
    client: FlaskClient, configured: Deps, admin: dict[str, str]
) -> None:
    for n in range(4):
        save(client, [("newsletter", "email", "subscribed" if n % 2 == 0 else "unsubscribed")])
    report = client.get(f"{API}/ledger/verify", headers=admin).get_json()
    assert report["ok"] is True and report["entries"] == 4 and report["first_bad_id"] is None
    with configured.session() as session:
        ids = list(session.execute(text("SELECT id FROM ledger_entries ORDER BY id")).scalars())
        session.execute(
            text("UPDATE ledger_entries SET state = 'subscribed' WHERE id = :id"), {"id": ids[1]}
        )
    altered = client.get(f"{API}/ledger/verify", headers=admin).get_json()
    assert altered["ok"] is False and altered["first_bad_id"] == ids[1]
    with configured.session() as session:
        session.execute(
            text("UPDATE ledger_entries SET state = 'unsubscribed' WHERE id = :id"), {"id": ids[1]}
        )
    assert verify_chain(configured)["ok"] is True
    with configured.session() as session:
        session.execute(text("DELETE FROM ledger_entries WHERE id = :id"), {"id": ids[2]})
    deleted = verify_chain(configured)
    assert deleted["ok"] is False and deleted["first_bad_id"] == ids[3]


def test_outbox_depth_and_sync_lag(
    client: FlaskClient, configured: Deps, admin: dict[str, str]
) -> None:
    save(client, [("newsletter", "email", "subscribed")])
    pending = client.get(f"{API}/outbox", headers=admin).get_json()
    assert (
        pending["counts"]["pending"] == 1
        and pending["oldest_pending_at"]
        and pending["sync_lag_seconds"] >= 0
    )
    propagate_connection(configured, connection_id(configured))
    done = client.get(f"{API}/outbox?status=sent", headers=admin).get_json()
    assert done["counts"] == {"pending": 0, "in_flight": 0, "sent": 1, "superseded": 0, "dead": 0}
    assert done["sync_lag_seconds"] == 0.0 and done["entries"][0]["kind"] == "subscription_group"
    assert client.get(f"{API}/outbox?status=bogus", headers=admin).status_code == 400
    assert client.get(f"{API}/outbox?connection=nope", headers=admin).status_code == 404


def test_replay_never_undoes_a_newer_change(
    client: FlaskClient, configured: Deps, admin: dict[str, str], braze: Any
) -> None:
    braze.script(
        "/subscription/status/set",
        [__import__("tests.fakes.braze_fake", fromlist=["Fault"]).Fault(status=400)],
    )
    save(client, [("newsletter", "email", "subscribed")])
    propagate_connection(configured, connection_id(configured))  # dead at once (permanent)
    save(client, [("newsletter", "email", "unsubscribed")])
    propagate_connection(configured, connection_id(configured))
    replay = client.post(f"{API}/outbox/replay", json={}, headers=admin).get_json()
    assert replay == {"replayed": 0, "superseded": 1}


def test_replay_with_an_empty_id_list_is_refused_not_widened(
    client: FlaskClient, configured: Deps, admin: dict[str, str], braze: Any
) -> None:
    from tests.fakes.braze_fake import Fault

    braze.script("/subscription/status/set", [Fault(status=400)])
    save(client, [("newsletter", "email", "subscribed")])
    propagate_connection(configured, connection_id(configured))  # dead at once (permanent)
    refused = client.post(f"{API}/outbox/replay", json={"ids": []}, headers=admin)
    assert refused.status_code == 400
    assert "ids" in refused.get_json()["error"]["message"]
    depth = client.get(f"{API}/outbox", headers=admin).get_json()
    assert depth["counts"]["dead"] == 1  # nothing replayed


def test_admin_edits_are_ledgered_with_source_api(
    client: FlaskClient, configured: Deps, admin: dict[str, str]
) -> None:
    body = {
        "external_id": "user-7",
        "changes": [{"subscription": "offers", "channel": "email", "state": "subscribed"}],
    }
    response = client.put(f"{API}/preferences", json=body, headers=admin)
    assert response.status_code == 200
    assert response.get_json()["preferences"][0]["state"] == "subscribed"
    entry = client.get(f"{API}/ledger?external_id=user-7", headers=admin).get_json()["entries"][0]
    assert entry["source"] == "api" and entry["proof"] == "api:tests" and entry["property"] is None
    bad = client.put(
        f"{API}/preferences",
        json=body
        | {"changes": [{"subscription": "offers", "channel": "fax", "state": "subscribed"}]},
        headers=admin,
    )
    assert bad.status_code == 400


@pytest.mark.parametrize("query", ["", "?external_id=a&email=b@c.de"])
def test_reads_need_exactly_one_identifier(
    client: FlaskClient, configured: Deps, admin: dict[str, str], query: str
) -> None:
    for path in ("preferences", "ledger"):
        response = client.get(f"{API}/{path}{query}", headers=admin)
        assert response.status_code == 400 and response.get_json()["error"]["message"]


def test_admin_reads_need_a_token(client: FlaskClient, configured: Deps) -> None:
    for path in ("preferences?external_id=x", "ledger?external_id=x", "ledger/verify", "outbox"):
        assert client.get(f"{API}/{path}").status_code == 401
    assert client.post(f"{API}/outbox/replay", json={}).status_code == 401
