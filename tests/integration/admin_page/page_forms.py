"""Helpers for the settings page tests: forms with their CSRF token, and valid form data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from backend.db.models import AuditEntry
from backend.services import configuration
from backend.services.deps import Deps

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery staple"
API_KEY = "plain-api-key-123-not-to-be-shown"
S3_SECRET = "plain-s3-secret-456-not-to-be-shown"
HS_SECRET = "plain-hs256-secret-789-abcdefghijklmnopqrstuvwxyz"
GROUP_EMAIL = "3b2c1d4e-0000-4000-8000-000000000001"
GROUP_SMS = "7a1d1d4e-0000-4000-8000-000000000002"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no csrf_token in the page"
    return match.group(1)


def count_rows(deps: Deps, model: Any) -> int:
    with deps.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def submit(
    client: FlaskClient, form_url: str, data: Mapping[str, Any], *, action: str | None = None
) -> TestResponse:
    """GET the page with the form, then POST ``data`` with the CSRF token it carries."""
    page = client.get(form_url)
    assert page.status_code == 200, page.status_code
    payload = {"csrf_token": csrf_token(page.get_data(as_text=True)), **data}
    return client.post(action or form_url, data=payload)


def login(
    client: FlaskClient,
    email: str = ADMIN_EMAIL,
    password: str = ADMIN_PASSWORD,
    next_url: str | None = None,
) -> TestResponse:
    url = "/admin/login" + (f"?next={next_url}" if next_url else "")
    page = client.get(url)
    data = {
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "email": email,
        "password": password,
    }
    if next_url is not None:
        data["next"] = next_url
    return client.post("/admin/login", data=data)


def connection_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "code": "braze-main",
        "name": "Braze production",
        "rest_endpoint": "https://rest.iad-03.braze.com",
        "api_key": API_KEY,
        "identity": "external_id",
        "create_missing_users": "y",
        "budget_share": "",
        "s3_bucket": "",
        "s3_prefix": "",
        "s3_region": "",
        "s3_endpoint_url": "",
        "s3_access_key_id": "",
        "s3_secret_access_key": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def create_connection(client: FlaskClient, **overrides: Any) -> TestResponse:
    response = submit(client, "/admin/braze-connections/new", connection_form(**overrides))
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def subscription_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "code": "newsletter",
        "position": "",
        "texts-0-language": "en",
        "texts-0-name": "Newsletter",
        "texts-0-description": "Product news once a month",
        "texts-1-language": "es",
        "texts-1-name": "Boletín",
        "texts-1-description": "Novedades una vez al mes",
        "texts-2-language": "",
        "texts-2-name": "",
        "texts-2-description": "",
        "channels-0-channel": "email",
        "channels-0-connection": "braze-main",
        "channels-0-subscription_group_id": GROUP_EMAIL,
        "channels-1-channel": "",
        "channels-1-connection": "",
        "channels-1-subscription_group_id": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def property_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "code": "acme-web",
        "name": "ACME website",
        "allowed_origins": "https://www.acme.com\nhttps://shop.acme.com",
        "languages": "en, es",
        "token_max_ttl": "1800",
        "email_verification": "y",
        "signing_keys-0-kid": "k1",
        "signing_keys-0-algorithm": "HS256",
        "signing_keys-0-secret": HS_SECRET,
        "signing_keys-0-public_key": "",
        "identity_capture-0-source": "queue",
        "identity_capture-0-key": "",
        "identity_capture-1-source": "cookie",
        "identity_capture-1-key": "optline_token",
        "subscriptions_mode": "all",
        "theme": "accent-color: #0b5fff",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


class FormScraper(HTMLParser):
    """What a browser would submit from the page's first form with class ``object-form``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, list[str]] = {}
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None

    def _add(self, name: str, value: str) -> None:
        self.values.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and "object-form" in a.get("class", ""):
            self._in_form = True
        if not self._in_form or ("name" not in a and tag != "option"):
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._add(a["name"], a.get("value", "on"))
            elif kind != "submit":
                self._add(a["name"], a.get("value", ""))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self._add(self._select, a.get("value", ""))
        elif tag == "textarea":
            self._textarea = a["name"]
            self._add(a["name"], "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            values = self.values[self._textarea]
            values[-1] += data.removeprefix("\n") if not values[-1] else data


def scrape_form(html: str) -> dict[str, list[str]]:
    scraper = FormScraper()
    scraper.feed(html)
    return scraper.values


def assert_edit_form_round_trips(client: FlaskClient, deps: Deps, kind: str, url: str) -> None:
    """Posting an edit form exactly as rendered says "unchanged" and changes nothing: not the
    object, not the audit log."""
    code = url.rstrip("/").rsplit("/", 1)[1]
    before = configuration.get_object(deps, kind, code)
    audit = count_rows(deps, AuditEntry)
    values = scrape_form(client.get(url).get_data(as_text=True))
    response = client.post(
        url, data=MultiDict([(name, value) for name, items in values.items() for value in items])
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "is unchanged." in client.get(url).get_data(as_text=True)
    assert configuration.get_object(deps, kind, code) == before
    assert count_rows(deps, AuditEntry) == audit
