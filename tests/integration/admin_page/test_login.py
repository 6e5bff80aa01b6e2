"""Signing in and out of the settings page, the ``next`` redirect, and the brute-force limit."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from tests.integration.admin_page.page_forms import ADMIN_EMAIL, csrf_token, login

PROTECTED = [
    "/admin/",
    "/admin/braze-connections/",
    "/admin/properties/new",
    "/admin/subscriptions/",
    "/admin/api-tokens",
    "/admin/audit",
]


@pytest.mark.parametrize("url", PROTECTED)
def test_admin_pages_redirect_to_login_when_signed_out(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/admin/login"
    assert parse_qs(location.query)["next"] == [url]


def test_post_when_signed_out_changes_nothing_and_redirects(client: FlaskClient) -> None:
    page = client.get("/admin/login")
    token = csrf_token(page.get_data(as_text=True))
    response = client.post("/admin/api-tokens", data={"csrf_token": token, "name": "x"})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/admin/login"


def test_wrong_password_is_refused(client: FlaskClient, admin_id: int) -> None:
    response = login(client, password="not the password at all")
    assert response.status_code == 200
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_unknown_email_gets_the_same_answer(client: FlaskClient, admin_id: int) -> None:
    response = login(client, email="nobody@example.com")
    assert "Wrong email or password." in response.get_data(as_text=True)


def test_right_password_signs_in(client: FlaskClient, admin_id: int) -> None:
    response = login(client)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200
    assert ADMIN_EMAIL in page.get_data(as_text=True)


def test_login_rotates_the_session(client: FlaskClient, admin_id: int) -> None:
    """The CSRF token of the signed-out session is not valid in the signed-in one."""
    before = csrf_token(client.get("/admin/login").get_data(as_text=True))
    login(client)
    with client.session_transaction() as session:
        assert set(session) == {"admin_user_id"}
    after = csrf_token(client.get("/admin/api-tokens").get_data(as_text=True))
    assert after != before
    response = client.post("/admin/api-tokens", data={"csrf_token": before, "name": "x"})
    assert response.status_code == 400


def test_next_redirect_inside_the_admin_is_followed(client: FlaskClient, admin_id: int) -> None:
    response = login(client, next_url="/admin/audit?page=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/audit?page=2"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/admin",
        "//evil.example/admin",
        "/\\evil.example",
        "/admin\\@evil.example",
        "javascript:alert(1)",
        "/demo",
        "http:/admin",
    ],
)
def test_next_redirect_off_the_admin_is_refused(
    client: FlaskClient, admin_id: int, target: str
) -> None:
    response = login(client, next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_login_page_drops_an_unsafe_next(client: FlaskClient) -> None:
    page = client.get("/admin/login?next=https://evil.example/").get_data(as_text=True)
    assert "evil.example" not in page


def test_logout_ends_the_session(admin: FlaskClient) -> None:
    token = csrf_token(admin.get("/admin/").get_data(as_text=True))
    response = admin.post("/admin/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/admin/login"
    assert admin.get("/admin/").status_code == 302


def test_logout_needs_the_csrf_token(admin: FlaskClient) -> None:
    assert admin.post("/admin/logout").status_code == 400
    assert admin.get("/admin/").status_code == 200


def test_deactivated_admin_is_signed_out(admin: FlaskClient, deps, admin_id: int) -> None:
    from backend.db.models import AdminUser

    with deps.session() as session:
        session.get(AdminUser, admin_id).active = False
    assert admin.get("/admin/").status_code == 302


def test_eleventh_failed_attempt_in_a_minute_gets_429(client: FlaskClient, admin_id: int) -> None:
    for _ in range(10):
        assert login(client, password="wrong password!!").status_code == 200
    response = login(client, password="wrong password!!")
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.get_data(as_text=True)
    # Even the right password waits until the window has passed.
    assert login(client).status_code == 429


def test_successful_sign_ins_do_not_use_up_the_limit(client: FlaskClient, admin_id: int) -> None:
    for _ in range(12):
        assert login(client).status_code == 302


def test_a_request_without_the_session_cookie_builds_no_signer(
    client: FlaskClient, admin_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cookie-less requests (every widget API call) get an empty session without a signer; a
    signed-in admin's cookie is still read and checked."""
    interface = client.application.session_interface
    built: list[str] = []
    real = interface.get_signing_serializer

    def counted(app: object) -> object:
        built.append("with cookie" if client.get_cookie("optline_admin") else "without")
        return real(app)  # type: ignore[arg-type]

    monkeypatch.setattr(interface, "get_signing_serializer", counted)
    assert client.get("/healthz").status_code == 200
    assert "without" not in built
    login(client)
    built.clear()
    assert client.get("/admin/").status_code == 200  # the session cookie is read and trusted
    assert built and set(built) == {"with cookie"}
