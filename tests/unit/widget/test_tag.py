"""GET /t/<property>.js: the built bundle with the property's public configuration inside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.domain.texts import text
from backend.services.configuration import apply_configuration
from backend.services.deps import Deps

STATIC = Path(__file__).resolve().parents[3] / "static" / "js"
SIGNING_SECRET = "tag-test-signing-secret-PLAINTEXT-0123456789"
API_KEY = "tag-test-braze-key-PLAINTEXT"


def document(**prop: Any) -> dict[str, Any]:
    return {
        "braze_connections": [
            {
                "code": "braze-main",
                "name": "Braze",
                "rest_endpoint": "https://rest.iad-03.braze.com",
                "api_key": API_KEY,
                "identity": "external_id",
            }
        ],
        "properties": [
            {
                "code": "acme-web",
                "name": "ACME website",
                "allowed_origins": ["https://www.acme.example"],
                "signing_keys": [{"kid": "k1", "secret": SIGNING_SECRET}],
                "identity_capture": [
                    {"source": "queue"},
                    {"source": "cookie", "key": "optline_token"},
                    {"source": "window", "key": "acme.user.token"},
                ],
                "email_verification": True,
                "languages": ["es", "en"],
                "theme": {"accent": "#8a1c7c", "font": "Georgia & serif"},
                **prop,
            }
        ],
        "subscriptions": [
            {
                "code": "newsletter",
                "name": {"en": "Newsletter", "es": "Boletín"},
                "channels": [
                    {
                        "channel": "email",
                        "connection": "braze-main",
                        "subscription_group_id": "3b2c1d4e-0000-4000-8000-000000000001",
                    }
                ],
            }
        ],
    }


@pytest.fixture
def configured(deps: Deps) -> Deps:
    apply_configuration(deps, document(), dry_run=False, prune=False, actor="test")
    return deps


def split_config(served: str) -> dict[str, Any]:
    """The JSON that replaced the placeholder, checked against the committed bundle around it."""
    head, tail = (STATIC / "optline.js").read_text().split('"__OPTLINE_CONFIG__"')
    assert served.startswith(head)
    assert served.endswith(tail)
    payload = served[len(head) : len(served) - len(tail)]
    assert "<" not in payload and "&" not in payload  # htmlsafe_json_dumps escapes them
    config: dict[str, Any] = json.loads(payload)
    return config


def test_serves_the_bundle_with_the_public_config(client: FlaskClient, configured: Deps) -> None:
    response = client.get("/t/acme-web.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert "Access-Control-Allow-Origin" not in response.headers
    body = response.get_data(as_text=True)
    config = split_config(body)
    assert config["property"] == "acme-web"
    assert config["api"] == configured.settings.public_url
    assert config["languages"] == ["es", "en"]
    assert config["identity_capture"] == [
        {"source": "queue"},
        {"source": "cookie", "key": "optline_token"},
        {"source": "window", "key": "acme.user.token"},
    ]
    assert config["email_verification"] is True
    assert config["theme"] == {"accent": "#8a1c7c", "font": "Georgia & serif"}
    assert config["texts"]["es"]["email_send"] == text("es", "email_send")
    assert config["texts"]["en"]["code_verify"] == text("en", "code_verify")
    assert set(config) == {
        "property",
        "api",
        "languages",
        "identity_capture",
        "email_verification",
        "theme",
        "texts",
    }
    for secret in (SIGNING_SECRET, API_KEY, "www.acme.example", "3b2c1d4e"):
        assert secret not in body


def test_without_email_verification_no_email_texts(client: FlaskClient, deps: Deps) -> None:
    apply_configuration(
        deps, document(email_verification=False), dry_run=False, prune=False, actor="t"
    )
    config = split_config(client.get("/t/acme-web.js").get_data(as_text=True))
    assert config["email_verification"] is False
    assert "email_send" not in config["texts"]["en"]
    assert config["texts"]["en"]["close"] == text("en", "close")


def test_etag_gives_304_and_follows_the_configuration(
    client: FlaskClient, configured: Deps
) -> None:
    first = client.get("/t/acme-web.js")
    etag = first.headers["ETag"]
    again = client.get("/t/acme-web.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["Cache-Control"] == "public, max-age=300"

    apply_configuration(
        configured, document(languages=["en"]), dry_run=False, prune=False, actor="test"
    )
    changed = client.get("/t/acme-web.js", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert split_config(changed.get_data(as_text=True))["languages"] == ["en"]


def test_unknown_property_is_a_404_script_comment(client: FlaskClient, configured: Deps) -> None:
    for path in ("/t/nope.js", "/t/" + "x" * 300 + ".js"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/javascript; charset=utf-8"
        body = response.get_data(as_text=True)
        assert body.startswith("/*") and body.rstrip().endswith("*/")
        assert "nope" not in body


def test_theme_values_that_could_break_out_are_dropped(client: FlaskClient, deps: Deps) -> None:
    from sqlalchemy import select

    from backend.db.models import Property

    apply_configuration(deps, document(), dry_run=False, prune=False, actor="test")
    with deps.session() as session:
        prop = session.scalar(select(Property).where(Property.code == "acme-web"))
        assert prop is not None
        prop.theme = {"accent": "red;} body{display:none", "Bad Name": "red", "text": "#111"}
    config = split_config(client.get("/t/acme-web.js").get_data(as_text=True))
    assert config["theme"] == {"text": "#111"}
