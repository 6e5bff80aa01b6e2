"""Helpers for the profile sync pages: valid form data for segments and sync connections, and the
objects the PRODUCT 1.4 example describes, as the configuration service stores them."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from tests.integration.admin_page.page_forms import (
    FormScraper,
    create_connection,
    scrape_form,
    submit,
)

SEGMENT_ID = "00000000-aaaa-bbbb-cccc-000000000001"
WEBHOOK = "https://hooks.example.com/services/T000/B000/plain-webhook-secret-321"
VIP_RULE_YAML = """all:
- {property: tier, op: eq, value: gold}
- {property: country, op: in, value: [ES, MX]}
"""
VIP_RULE = {
    "all": [
        {"property": "tier", "op": "eq", "value": "gold"},
        {"property": "country", "op": "in", "value": ["ES", "MX"]},
    ]
}


def segment_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "code": "vip",
        "name": "VIP customers",
        "segment_type": "rule",
        "rule": VIP_RULE_YAML,
        "members": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def sync_connection_form(**overrides: Any) -> dict[str, Any]:
    """The PRODUCT 1.4 example as the new form submits it (row 1 of each list left blank)."""
    data = {
        "code": "braze-profiles",
        "braze_connection": "braze-main",
        "enabled": "y",
        "schedule_kind": "times_per_day",
        "schedule_times_per_day": "4",
        "schedule_day_of_month": "",
        "schedule_at": "",
        "schedule_timezone": "",
        "notify_emails": "ops@acme.com",
        "notify_on": ["failure", "success"],
        "notify_webhook": "",
        "import_goals-0-code": "braze-loyalty",
        "import_goals-0-braze_segment_id": SEGMENT_ID,
        "import_goals-0-identifiers-0-braze": "external_id",
        "import_goals-0-identifiers-0-profile": "external_id",
        "import_goals-0-allow_create": "y",
        "import_goals-0-mappings-0-braze": "first_name",
        "import_goals-0-mappings-0-profile": "first_name",
        "import_goals-0-mappings-0-strategy": "set_if_empty",
        "import_goals-0-mappings-1-braze": "loyalty_points",
        "import_goals-0-mappings-1-profile": "points",
        "import_goals-0-mappings-1-strategy": "sum",
        "import_goals-0-mappings-2-braze": "interests",
        "import_goals-0-mappings-2-profile": "interests",
        "import_goals-0-mappings-2-strategy": "add",
        "import_goals-0-mappings-3-braze": "",
        "import_goals-0-mappings-3-profile": "",
        "import_goals-0-mappings-3-strategy": "set",
        "import_goals-0-remaining_fields_enabled": "y",
        "import_goals-0-remaining_fields_prefix": "braze_",
        "import_goals-0-remaining_fields_strategy": "set",
        "import_goals-1-code": "",
        "import_goals-1-braze_segment_id": "",
        "import_goals-1-identifiers-0-braze": "",
        "import_goals-1-identifiers-0-profile": "",
        "import_goals-1-mappings-0-braze": "",
        "import_goals-1-mappings-0-profile": "",
        "import_goals-1-mappings-0-strategy": "set",
        "import_goals-1-remaining_fields_prefix": "",
        "import_goals-1-remaining_fields_strategy": "set",
        "export_goals-0-code": "vip-to-braze",
        "export_goals-0-segment": "vip",
        "export_goals-0-identifiers-0-braze": "external_id",
        "export_goals-0-identifiers-0-profile": "external_id",
        "export_goals-0-mappings-0-source": "property",
        "export_goals-0-mappings-0-name": "tier",
        "export_goals-0-mappings-0-value": "",
        "export_goals-0-mappings-0-braze": "tier",
        "export_goals-0-mappings-1-source": "segments",
        "export_goals-0-mappings-1-name": "",
        "export_goals-0-mappings-1-value": "",
        "export_goals-0-mappings-1-braze": "optline_segments",
        "export_goals-0-mappings-2-source": "permissions",
        "export_goals-0-mappings-2-braze": "optline_permissions",
        "export_goals-0-mappings-3-source": "static",
        "export_goals-0-mappings-3-value": "optline",
        "export_goals-0-mappings-3-braze": "source_system",
        "export_goals-0-destinations_braze": "y",
        "export_goals-1-code": "",
        "export_goals-1-segment": "",
        "export_goals-1-destinations_braze": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


EXPECTED_SYNC_CONNECTION: dict[str, Any] = {
    "code": "braze-profiles",
    "braze_connection": "braze-main",
    "enabled": True,
    "schedule": {"times_per_day": 4},
    "notify": {"emails": ["ops@acme.com"], "on": ["success", "failure"], "webhook": None},
    "import_goals": [
        {
            "code": "braze-loyalty",
            "braze_segment_id": SEGMENT_ID,
            "identifiers": [{"braze": "external_id", "profile": "external_id"}],
            "allow_create": True,
            "mappings": [
                {"braze": "first_name", "profile": "first_name", "strategy": "set_if_empty"},
                {"braze": "loyalty_points", "profile": "points", "strategy": "sum"},
                {"braze": "interests", "profile": "interests", "strategy": "add"},
            ],
            "remaining_fields": {"enabled": True, "prefix": "braze_", "strategy": "set"},
        }
    ],
    "export_goals": [
        {
            "code": "vip-to-braze",
            "segment": "vip",
            "identifiers": [{"profile": "external_id", "braze": "external_id"}],
            "create_if_missing": False,
            "mappings": [
                {"source": "property", "name": "tier", "braze": "tier"},
                {"source": "segments", "braze": "optline_segments"},
                {"source": "permissions", "braze": "optline_permissions"},
                {"source": "static", "value": "optline", "braze": "source_system"},
            ],
            "destinations": {"braze": True, "s3_cdi": False},
        }
    ],
}


def post_as_rendered(client: FlaskClient, url: str, **changes: Any) -> TestResponse:
    """Submit the page's object form as a browser would, with some fields changed."""
    values = scrape_form(client.get(url).get_data(as_text=True))
    pairs = [
        (name, value) for name, items in values.items() for value in items if name not in changes
    ]
    for name, value in changes.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, item))
    return client.post(url, data=MultiDict(pairs))


def seed_sync(admin: FlaskClient, **connection: Any) -> None:
    """A sandbox Braze connection with S3, the vip segment and the braze-profiles connection."""
    create_connection(admin, sandbox="y", s3_bucket="acme-exports", s3_prefix="optline/")
    response = submit(admin, "/admin/segments/new", segment_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    response = submit(admin, "/admin/sync-connections/new", sync_connection_form(**connection))
    assert response.status_code == 302, response.get_data(as_text=True)


class ClassFormScraper(FormScraper):
    """What a browser would submit from the page's first form with the given class."""

    def __init__(self, css_class: str) -> None:
        super().__init__()
        self.css_class = css_class

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            classes = (dict(attrs).get("class") or "").split()
            marked = "object-form" if self.css_class in classes else ""
            attrs = [(k, v) for k, v in attrs if k != "class"] + [("class", marked)]
        super().handle_starttag(tag, attrs)


def scrape_form_of(html: str, css_class: str) -> dict[str, list[str]]:
    scraper = ClassFormScraper(css_class)
    scraper.feed(html)
    return scraper.values
