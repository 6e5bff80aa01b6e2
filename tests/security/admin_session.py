"""Signing in to the admin pages with the form's CSRF token, as a browser does."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from backend.services.admin_auth import create_admin_user
from backend.services.deps import Deps

EMAIL = "security-admin@example.com"
PASSWORD = "a long and correct admin password"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(client: FlaskClient, url: str) -> str:
    match = CSRF_RE.search(client.get(url).get_data(as_text=True))
    assert match, f"no csrf_token on {url}"
    return match.group(1)


def login(client: FlaskClient, password: str = PASSWORD) -> TestResponse:
    token = csrf_from(client, "/admin/login")
    return client.post(
        "/admin/login", data={"csrf_token": token, "email": EMAIL, "password": password}
    )


def make_admin(deps: Deps) -> int:
    return create_admin_user(deps, EMAIL, PASSWORD)
