"""The widget API contract: bootstrap, save, idempotence, unsubscribe-all, bad input, CORS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.services.deps import Deps
from tests.integration.preferences.conftest import (
    ORIGIN,
    PROPERTY,
    auth,
    row_counts,
    token,
)

pytestmark = pytest.mark.integration
BOOT = "/api/public/v1/bootstrap"
SAVE = "/api/public/v1/preferences"


def save(client: FlaskClient, changes: list[dict[str, str]], sub: str = "user-1", **extra: Any):
    body = {"property": PROPERTY, "changes": changes, **extra}
    return client.post(SAVE, json=body, headers=auth(token(sub, email="jane@example.com")))


def choice(topic: str, channel: str, state: str = "subscribed") -> dict[str, str]:
    return {"subscription": topic, "channel": channel, "state": state}


def channel_of(body: dict[str, Any], topic: str, channel: str) -> dict[str, Any]:
    found = next(t for t in body["topics"] if t["code"] == topic)
    return next(c for c in found["channels"] if c["channel"] == channel)


def test_bootstrap_returns_texts_topics_and_state(client: FlaskClient, configured: Deps) -> None:
    response = client.post(
        BOOT, json={"property": PROPERTY}, headers=auth(token(email="Jane@Example.com"))
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["property"] == PROPERTY and body["language"] == "en"
    assert body["languages"] == ["en", "es"]
    assert body["texts"]["save"] == "Save preferences"
    assert body["texts"]["saved"] == "Preferences saved"
    assert [t["code"] for t in body["topics"]] == ["newsletter", "offers"]
    assert body["topics"][0] == {
        "code": "newsletter",
        "name": "Newsletter",
        "description": "Product news once a month",
        "channels": [
            {"channel": "email", "label": "Email", "state": "unsubscribed", "sync_status": None},
            {"channel": "sms", "label": "SMS", "state": "unsubscribed", "sync_status": None},
        ],
    }
    assert body["unsubscribed_all"] is False
    assert body["visitor"] == {"email_masked": "j***@example.com", "can_request_data": True}
    assert body["features"] == {"email_verification": True}
    assert row_counts(configured)["subjects"] == 0  # reading writes nothing


def test_bootstrap_in_spanish_and_fallback_language(client: FlaskClient, configured: Deps) -> None:
    es = client.post(
        BOOT, json={"property": PROPERTY, "language": "es"}, headers=auth(token())
    ).get_json()
    assert es["language"] == "es" and es["texts"]["save"] == "Guardar preferencias"
    assert es["topics"][0]["name"] == "Boletín"
    assert es["topics"][0]["channels"][0]["label"] == "Correo electrónico"
    fr = client.post(
        BOOT, json={"property": PROPERTY, "language": "fr"}, headers=auth(token())
    ).get_json()
    assert fr["language"] == "en"


def test_bootstrap_without_a_token_is_401_with_public_texts_only(
    client: FlaskClient, configured: Deps
) -> None:
    response = client.post(BOOT, json={"property": PROPERTY, "language": "es"})
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == "invalid_token"
    assert error["details"]["features"] == {"email_verification": True}
    assert error["details"]["texts"]["email_send"] == "Enviar código"
    assert "topics" not in error["details"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_save_records_preference_ledger_and_outbox_and_enqueues_after_commit(
    client: FlaskClient, configured: Deps, jobs: Any
) -> None:
    response = save(client, [choice("newsletter", "email")])
    assert response.status_code == 200
    body = response.get_json()
    assert body["saved"] == 1 and body["unsubscribed_all"] is False
    assert channel_of(body, "newsletter", "email") == {
        "channel": "email", "label": "Email", "state": "subscribed", "sync_status": "pending",
    }  # fmt: skip
    counts = row_counts(configured)
    assert (
        counts["subjects"],
        counts["preferences"],
        counts["ledger_entries"],
        counts["outbox_entries"],
    ) == (1, 1, 1, 1)
    assert [(c.func, c.args, c.queue, c.job_id) for c in jobs.calls] == [
        ("backend.jobs.propagation.propagate_connection_job", (1,), "braze", "propagate-1")
    ]
    again = client.post(BOOT, json={"property": PROPERTY}, headers=auth(token())).get_json()
    assert channel_of(again, "newsletter", "email")["state"] == "subscribed"


def test_saving_the_same_choice_again_writes_nothing(
    client: FlaskClient, configured: Deps, jobs: Any
) -> None:
    save(client, [choice("newsletter", "email")])
    before = row_counts(configured)
    response = save(client, [choice("newsletter", "email")])
    assert response.status_code == 200 and response.get_json()["saved"] == 0
    assert row_counts(configured) == before
    assert len(jobs.calls) == 1
    # A brand-new visitor confirming the default writes nothing either.
    fresh = client.post(
        SAVE, json={"property": PROPERTY, "changes": []}, headers=auth(token("user-9"))
    )
    assert fresh.status_code == 200 and row_counts(configured) == before


def test_unsubscribe_all_then_opting_in_again(client: FlaskClient, configured: Deps) -> None:
    save(client, [choice("newsletter", "email"), choice("offers", "push")])
    body = save(client, [], unsubscribe_all=True).get_json()
    assert body["unsubscribed_all"] is True and body["saved"] == 4
    assert all(c["state"] == "unsubscribed" for t in body["topics"] for c in t["channels"])
    # 2 + 4 topic choices + email_subscribe + push_subscribe
    assert row_counts(configured)["ledger_entries"] == 8
    repeat = save(client, [], unsubscribe_all=True).get_json()
    assert repeat["saved"] == 0 and row_counts(configured)["ledger_entries"] == 8
    back = save(client, [choice("offers", "email")]).get_json()
    assert back["unsubscribed_all"] is False
    boot = client.post(BOOT, json={"property": PROPERTY}, headers=auth(token())).get_json()
    assert boot["unsubscribed_all"] is False
    assert channel_of(boot, "offers", "email")["state"] == "subscribed"


def test_the_property_may_be_named_in_the_path(client: FlaskClient, configured: Deps) -> None:
    response = client.post(f"/api/public/v1/{PROPERTY}/bootstrap", json={}, headers=auth(token()))
    assert response.status_code == 200 and response.get_json()["property"] == PROPERTY
    clash = client.post(
        f"/api/public/v1/{PROPERTY}/bootstrap",
        json={"property": "other-site"},
        headers=auth(token()),
    )
    assert clash.status_code == 400


GOOD = {"subscription": "newsletter", "channel": "email", "state": "subscribed"}


def body(**fields: Any) -> bytes:
    return json.dumps({"property": PROPERTY, "changes": [GOOD]} | fields).encode()


BAD_INPUT = {
    "malformed-json": (b'{"property": "acme-web", "changes": [', 400),
    "empty-body": (b"", 400),
    "array-body": (json.dumps([GOOD]).encode(), 400),
    "no-property": (json.dumps({"changes": [GOOD]}).encode(), 400),
    "unknown-property": (body(property="nope"), 404),
    "unknown-topic": (body(changes=[GOOD | {"subscription": "nope"}]), 400),
    "channel-not-on-topic": (body(changes=[GOOD | {"channel": "push"}]), 400),
    "unknown-channel": (body(changes=[GOOD | {"channel": "fax"}]), 400),
    "bad-state": (body(changes=[GOOD | {"state": "yes"}]), 400),
    "number-topic": (body(changes=[GOOD | {"subscription": 5}]), 400),
    "changes-object": (body(changes=GOOD), 400),
    "change-string": (body(changes=[GOOD, "x"]), 400),
    "flag-string": (body(unsubscribe_all="true"), 400),
    "too-many": (body(changes=[GOOD] * 201), 400),
    "1mb-body": (body(pad="x" * 1_048_576), 413),
}


@pytest.mark.parametrize(("raw", "status"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_a_4xx_with_a_message_and_writes_nothing(
    client: FlaskClient, configured: Deps, jobs: Any, raw: bytes, status: int
) -> None:
    before = row_counts(configured)
    response = client.post(
        SAVE, data=raw, content_type="application/json", headers=auth(token()) | {"Origin": ORIGIN}
    )
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["message"] and error["code"]
    assert row_counts(configured) == before
    assert jobs.calls == []


def test_a_valid_change_next_to_a_bad_one_is_not_written(
    client: FlaskClient, configured: Deps
) -> None:
    before = row_counts(configured)
    response = save(client, [choice("newsletter", "email"), choice("offers", "sms")])
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["fields"][0]["path"] == "changes[1].channel"
    assert row_counts(configured) == before


# -- CORS -----------------------------------------------------------------------------------------


def test_an_allowed_origin_gets_cors_headers(client: FlaskClient, configured: Deps) -> None:
    response = client.post(
        BOOT, json={"property": PROPERTY}, headers=auth(token()) | {"Origin": ORIGIN}
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in response.headers["Vary"]
    # Errors from an allowed origin are readable by the widget too.
    bad = client.post(
        SAVE,
        json={"property": PROPERTY, "changes": "x"},
        headers=auth(token()) | {"Origin": ORIGIN},
    )
    assert bad.status_code == 400 and bad.headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://other.example", "null", "http://www.acme.com"]
)
def test_a_disallowed_origin_is_refused_before_anything_happens(
    client: FlaskClient, configured: Deps, jobs: Any, origin: str
) -> None:
    before = row_counts(configured)
    for path, body in (
        (SAVE, {"property": PROPERTY, "changes": [GOOD]}),
        (BOOT, {"property": PROPERTY}),
    ):
        response = client.post(path, json=body, headers=auth(token()) | {"Origin": origin})
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in response.headers
    assert row_counts(configured) == before and jobs.calls == []


def test_requests_without_origin_are_for_servers_and_get_no_cors_headers(
    client: FlaskClient, configured: Deps
) -> None:
    response = client.post(BOOT, json={"property": PROPERTY}, headers=auth(token()))
    assert response.status_code == 200 and "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    "path", [SAVE, BOOT, f"/api/public/v1/{PROPERTY}/preferences", "/api/public/v1/email-codes"]
)
def test_preflights_from_an_allowed_origin_are_cached_for_ten_minutes(
    client: FlaskClient, configured: Deps, path: str
) -> None:
    response = client.options(
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == "GET, POST"
    assert set(response.headers["Access-Control-Allow-Headers"].split(", ")) == {
        "Authorization",
        "Content-Type",
    }
    assert response.headers["Access-Control-Max-Age"] == "600"


def test_preflights_from_other_origins_are_refused(client: FlaskClient, configured: Deps) -> None:
    evil = client.options(
        SAVE, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert evil.status_code == 403 and "Access-Control-Allow-Origin" not in evil.headers
    # Allowed by another property, not by the one in the path.
    other = client.options(
        f"/api/public/v1/{PROPERTY}/preferences", headers={"Origin": "https://other.example"}
    )
    assert other.status_code == 403


def test_every_widget_route_is_in_the_openapi_document(
    client: FlaskClient, configured: Deps
) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for name in ("bootstrap", "preferences", "email-codes", "email-codes/verify"):
        operation = paths[f"/api/public/v1/{name}"]["post"]
        assert operation["responses"]
    assert paths["/api/public/v1/bootstrap"]["post"]["security"] == [{"visitorToken": []}]
    for name in ("preferences", "ledger", "ledger/verify", "outbox", "outbox/replay"):
        assert f"/api/admin/v1/{name}" in paths
