"""Every form of the settings page refuses a POST without a valid CSRF token; nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.db.models import ApiToken, AuditEntry, BrazeConnection, Property, Subscription
from backend.services import configuration
from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import (
    connection_form,
    count_rows,
    create_connection,
    property_form,
    submit,
    subscription_form,
)

TABLES = (BrazeConnection, Property, Subscription, ApiToken, AuditEntry)


def snapshot(deps: Deps) -> dict[str, int]:
    return {model.__name__: count_rows(deps, model) for model in TABLES}


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/admin/braze-connections/new", connection_form(code="braze-two")),
        ("/admin/properties/new", property_form()),
        ("/admin/subscriptions/new", subscription_form()),
        ("/admin/braze-connections/braze-main/", connection_form(name="Changed")),
        ("/admin/braze-connections/braze-main/delete", {}),
        ("/admin/api-tokens", {"name": "ci"}),
        ("/admin/api-tokens/revoke", {"name": "ci"}),
    ],
)
@pytest.mark.parametrize("token", [None, "forged-token"])
def test_post_without_a_valid_csrf_token_is_refused(
    admin: FlaskClient, deps: Deps, url: str, data: dict[str, Any], token: str | None
) -> None:
    create_connection(admin, sandbox="y")
    before = snapshot(deps)
    payload = dict(data) if token is None else {**data, "csrf_token": token}
    response = admin.post(url, data=payload)
    assert response.status_code == 400
    assert "security token is missing or expired" in response.get_data(as_text=True)
    assert snapshot(deps) == before
    assert configuration.get_object(deps, "braze_connections", "braze-main")["name"] == (
        "Braze production"
    )


def test_the_same_post_with_the_token_works(admin: FlaskClient, deps: Deps) -> None:
    before = count_rows(deps, BrazeConnection)
    response = submit(admin, "/admin/braze-connections/new", connection_form(code="braze-two"))
    assert response.status_code == 302
    assert count_rows(deps, BrazeConnection) == before + 1


def test_login_form_needs_the_token_too(client: FlaskClient, admin_id: int) -> None:
    response = client.post(
        "/admin/login", data={"email": "admin@example.com", "password": "whatever-it-is"}
    )
    assert response.status_code == 400
