"""Fixtures for the settings page tests: an admin user and a client signed in as that admin."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from backend.services.admin_auth import create_admin_user
from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import ADMIN_EMAIL, ADMIN_PASSWORD, login


@pytest.fixture
def admin_id(deps: Deps) -> int:
    return create_admin_user(deps, ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture
def admin(client: FlaskClient, admin_id: int) -> FlaskClient:
    """A client signed in as the admin."""
    response = login(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
