"""Two requests to render (PRODUCT §4): browsers send the visitor token in a text/plain JSON body
(a CORS simple request, no preflight). The Authorization header still works and wins; the Origin
check refuses a disallowed site before anything is read or written, preflight or not."""

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
PLAIN = "text/plain;charset=UTF-8"
CHANGE = {"subscription": "newsletter", "channel": "email", "state": "subscribed"}


def simple_post(client: FlaskClient, path: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(
        f"/api/public/v1/{PROPERTY}/{path}",
        data=json.dumps(body),
        content_type=PLAIN,
        headers={"Origin": ORIGIN, **headers},
    )


def test_bootstrap_and_save_take_the_token_from_a_text_plain_body(
    client: FlaskClient, configured: Deps
) -> None:
    boot = simple_post(client, "bootstrap", {"token": token()})
    assert boot.status_code == 200, boot.get_json()
    assert boot.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert boot.get_json()["topics"][0]["code"] == "newsletter"
    saved = simple_post(client, "preferences", {"token": token(), "changes": [CHANGE]})
    assert saved.status_code == 200 and saved.get_json()["saved"] == 1


def test_the_authorization_header_still_works_and_wins_over_the_body(
    client: FlaskClient, configured: Deps
) -> None:
    assert client.post(
        "/api/public/v1/bootstrap", json={"property": PROPERTY}, headers=auth(token())
    ).status_code == 200  # fmt: skip
    bad_header = simple_post(
        client, "bootstrap", {"token": token()}, Authorization="Bearer not-a-token"
    )
    assert bad_header.status_code == 401


def test_a_bad_body_token_is_401_and_writes_nothing(client: FlaskClient, configured: Deps) -> None:
    before = row_counts(configured)
    for value in ("", "garbage", 42, None):
        response = simple_post(client, "preferences", {"token": value, "changes": [CHANGE]})
        assert response.status_code == 401, value
        assert response.get_json()["error"]["code"] == "invalid_token"
    assert row_counts(configured) == before


def test_a_disallowed_origin_is_refused_without_a_preflight(
    client: FlaskClient, configured: Deps
) -> None:
    before = row_counts(configured)
    for path in ("bootstrap", "preferences", "receipt", "rights-requests"):
        body = {"token": token(), "changes": [CHANGE], "type": "access"}
        response = simple_post(client, path, body, Origin="https://evil.example")
        assert response.status_code == 403, path
        assert "Access-Control-Allow-Origin" not in response.headers
    assert row_counts(configured) == before
    assert configured.jobs.calls == []


def test_rights_requests_take_the_body_token_too(client: FlaskClient, configured: Deps) -> None:
    created = simple_post(client, "rights-requests", {"token": token(), "type": "access"})
    assert created.status_code == 202, created.get_json()
    assert created.get_json()["status"] == "received"


def test_the_openapi_document_names_the_body_token(client: FlaskClient) -> None:
    doc = client.get("/api/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    for name in ("BootstrapRequest", "SaveRequest", "VisitorRightsRequest", "ReceiptRequest"):
        assert "token" in schemas[name]["properties"], name
    body = doc["paths"]["/api/public/v1/{property}/bootstrap"]["post"]["requestBody"]["content"]
    assert {"application/json", "text/plain"} <= set(body)
    assert "/api/public/v1/receipts/verify" in doc["paths"]
