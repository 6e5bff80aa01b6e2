"""An edit form submitted exactly as rendered changes nothing: every stored field is on the form."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import (
    S3_SECRET,
    assert_edit_form_round_trips,
    create_connection,
    property_form,
    submit,
    subscription_form,
)


@pytest.fixture
def configured(admin: FlaskClient) -> FlaskClient:
    create_connection(
        admin,
        sandbox="y",
        budget_share="0.5",
        identity="email",
        create_missing_users=None,
        s3_bucket="acme-exports",
        s3_prefix="optline/",
        s3_region="eu-west-1",
        s3_endpoint_url="https://s3.example.com",
        s3_access_key_id="AKIA1",
        s3_secret_access_key=S3_SECRET,
    )
    assert (
        submit(admin, "/admin/subscriptions/new", subscription_form(position="3")).status_code
        == 302
    )
    form = property_form(
        subscriptions_mode="some",
        subscriptions="newsletter",
        email_verification=None,
        theme="accent-color: #0b5fff\nradius: 4px",
    )
    assert submit(admin, "/admin/properties/new", form).status_code == 302
    return admin


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("braze_connections", "/admin/braze-connections/braze-main/"),
        ("subscriptions", "/admin/subscriptions/newsletter/"),
        ("properties", "/admin/properties/acme-web/"),
    ],
)
def test_edit_form_as_rendered_changes_nothing(
    configured: FlaskClient, deps: Deps, kind: str, url: str
) -> None:
    assert_edit_form_round_trips(configured, deps, kind, url)
