"""CORS, CSRF, brute-force limits, security headers and body limits, from the outside."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.app import create_app
from backend.db.models import ApiToken
from backend.services.admin_auth import create_api_token
from backend.services.deps import Deps
from backend.services.hosted_links import signed_url
from backend.services.visitor_tokens import mint_token
from backend.settings import Settings
from tests.hostile.conftest import ORIGIN, PROPERTY
from tests.security.admin_session import csrf_from, login, make_admin
from tests.security.conftest import row_counts

pytestmark = pytest.mark.integration
BOOT = "/api/public/v1/bootstrap"


def visitor(deps: Deps) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(deps, PROPERTY, "user-1", ttl=600)}


# ----------------------------------------------------------------------------------------- CORS


@pytest.mark.parametrize("origin", ["https://evil.example", "https://www.acme.com.evil.example",
                                    "http://www.acme.com", "null"])  # fmt: skip
def test_a_disallowed_origin_is_403_without_cors_headers(
    client: FlaskClient, configured: Deps, origin: str
) -> None:
    before = row_counts(configured)
    headers = {**visitor(configured), "Origin": origin}
    for path, body in (
        (BOOT, {"property": PROPERTY}),
        ("/api/public/v1/preferences", {"property": PROPERTY, "unsubscribe_all": True}),
    ):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 403, (path, response.get_json())
        assert response.get_json()["error"]["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        f"/api/public/v1/{PROPERTY}/preferences",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert row_counts(configured) == before


def test_an_allowed_origin_is_echoed_with_vary_and_a_cached_preflight(
    client: FlaskClient, configured: Deps
) -> None:
    response = client.post(
        BOOT, json={"property": PROPERTY}, headers={**visitor(configured), "Origin": ORIGIN}
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in response.headers.get("Vary", "")
    assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = client.options(
        f"/api/public/v1/{PROPERTY}/bootstrap",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert int(preflight.headers["Access-Control-Max-Age"]) > 0
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()


# ----------------------------------------------------------------------------------------- CSRF


def test_an_admin_form_without_its_csrf_token_is_400_and_changes_nothing(
    client: FlaskClient, configured: Deps
) -> None:
    make_admin(configured)
    assert login(client).status_code == 302
    response = client.post("/admin/api-tokens", data={"name": "no-csrf"})
    assert response.status_code == 400
    forged = client.post("/admin/api-tokens", data={"name": "no-csrf", "csrf_token": "x.y.z"})
    assert forged.status_code == 400
    with configured.session() as session:
        assert session.query(ApiToken).filter_by(name="no-csrf").count() == 0
    # The sign-in form itself needs the token too (login CSRF).
    client.post("/admin/logout", data={"csrf_token": csrf_from(client, "/admin/api-tokens")})
    bare = client.post("/admin/login", data={"email": "a@b.co", "password": "x"})
    assert bare.status_code == 400


# ---------------------------------------------------------------------------- brute-force limits


def test_repeated_wrong_passwords_get_429_with_retry_after(
    client: FlaskClient, configured: Deps
) -> None:
    make_admin(configured)
    statuses = [login(client, password=f"wrong password, guess {i}").status_code
                for i in range(12)]  # fmt: skip
    assert 429 in statuses and statuses[0] == 200
    refused = login(client)  # even the right password waits now
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0


def test_guessing_email_codes_gets_429_with_retry_after(
    client: FlaskClient, configured: Deps
) -> None:
    body = {"property": PROPERTY, "email": "victim@example.com"}
    assert client.post("/api/public/v1/email-codes", json=body).status_code == 202
    statuses = []
    for guess in range(15):
        answer = client.post(
            "/api/public/v1/email-codes/verify", json={**body, "code": f"{guess:06d}"}
        )
        statuses.append(answer.status_code)
    assert 200 not in statuses
    assert statuses[-1] == 429, statuses
    assert int(answer.headers["Retry-After"]) > 0
    assert answer.get_json()["error"]["code"] == "too_many_requests"


# ------------------------------------------------------------------------------ security headers


def test_admin_pages_carry_csp_and_deny_framing_without_hsts_in_development(
    client: FlaskClient, configured: Deps
) -> None:
    page = client.get("/admin/login")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in page.headers


def test_admin_pages_carry_hsts_in_production(settings: Settings, configured: Deps) -> None:
    production = dataclasses.replace(
        settings, env="production", public_url="https://optline.example"
    )
    app: Flask = create_app(production, configured)
    app.config["TESTING"] = True
    page = app.test_client().get("/admin/login", base_url="https://optline.example")
    hsts = page.headers.get("Strict-Transport-Security", "")
    assert "max-age=" in hsts and int(hsts.split("max-age=")[1].split(";")[0]) >= 15552000
    assert page.headers["X-Frame-Options"] == "DENY"


def test_the_hosted_page_may_not_be_framed(client: FlaskClient, configured: Deps) -> None:
    url = signed_url(configured, PROPERTY, "user-1")
    path = url.split("://", 1)[1].split("/", 1)[1]
    for response in (client.get("/" + path), client.get(f"/p/{PROPERTY}?uid=x&ts=1&sig=bad")):
        assert response.status_code in (200, 403), response.status_code
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_api_answers_are_nosniff(client: FlaskClient, configured: Deps) -> None:
    admin = {"Authorization": "Bearer " + create_api_token(configured, "headers")}
    for response in (
        client.post(BOOT, json={"property": PROPERTY}, headers=visitor(configured)),
        client.post(BOOT, json={"property": PROPERTY}),
        client.get("/api/admin/v1/whoami", headers=admin),
        client.get("/api/admin/v1/whoami"),
        client.get("/api/openapi.json"),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.mimetype == "application/json"


# ----------------------------------------------------------------------------------- body limits


def test_bodies_over_the_limit_are_413_json_on_both_apis(
    client: FlaskClient, configured: Deps
) -> None:
    big = '{"property": "' + PROPERTY + '", "pad": "' + "x" * (300 * 1024) + '"}'
    admin = {"Authorization": "Bearer " + create_api_token(configured, "limits")}
    before = row_counts(configured)
    for path, headers in (
        ("/api/public/v1/preferences", visitor(configured)),
        (BOOT, visitor(configured)),
        ("/api/admin/v1/config", admin),
        ("/api/admin/v1/properties", admin),
    ):
        response = client.post(path, data=big, content_type="application/json", headers=headers)
        assert response.status_code == 413, (path, response.status_code)
        assert response.get_json()["error"]["code"] == "request_entity_too_large"
    assert row_counts(configured) == before
