"""A 429 says when to come back; other responses carry no Retry-After at all."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.integration.admin_page.page_forms import ADMIN_EMAIL


def test_only_the_refusal_carries_retry_after(client: FlaskClient, admin_id: int) -> None:
    page = client.get("/admin/login")
    assert page.status_code == 200
    assert "Retry-After" not in page.headers
    html = page.get_data(as_text=True)
    token = html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    statuses = []
    for _ in range(11):
        response = client.post(
            "/admin/login",
            data={"csrf_token": token, "email": ADMIN_EMAIL, "password": "wrong password!"},
        )
        statuses.append(response.status_code)
    assert statuses[-1] == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert all("Retry-After" not in client.get("/healthz").headers for _ in range(2))
