"""Properties through the settings page: origins, signing keys, capture, subscriptions, theme."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db.models import Property, SigningKey
from backend.domain.errors import NotFoundError
from backend.services import configuration
from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import (
    HS_SECRET,
    count_rows,
    create_connection,
    csrf_token,
    property_form,
    submit,
    subscription_form,
)

NEW = "/admin/properties/new"
EDIT = "/admin/properties/acme-web/"


def create_property(client: FlaskClient, **overrides: str) -> None:
    response = submit(client, NEW, property_form(**overrides))
    assert response.status_code == 302, response.get_data(as_text=True)


def edit_form(**overrides: str) -> dict[str, str]:
    form = property_form(**overrides)
    del form["code"]
    return form


def stored_secret(deps: Deps, kid: str = "k1") -> str:
    with deps.session() as session:
        key = session.scalars(select(SigningKey).where(SigningKey.kid == kid)).one()
        assert key.secret_encrypted and HS_SECRET not in key.secret_encrypted
        return deps.secrets.decrypt(key.secret_encrypted)


def p256_public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_create_property(admin: FlaskClient, deps: Deps) -> None:
    create_property(admin)
    stored = configuration.get_object(deps, "properties", "acme-web")
    assert stored["name"] == "ACME website"
    assert stored["allowed_origins"] == ["https://www.acme.com", "https://shop.acme.com"]
    assert stored["signing_keys"] == [{"kid": "k1", "algorithm": "HS256", "secret": "<redacted>"}]
    assert stored["identity_capture"] == [
        {"source": "queue"},
        {"source": "cookie", "key": "optline_token"},
    ]
    assert stored["email_verification"] is True
    assert stored["languages"] == ["en", "es"]
    assert stored["subscriptions"] is None
    assert stored["theme"] == {"accent-color": "#0b5fff"}
    assert stored["token_max_ttl"] == 1800
    assert stored_secret(deps) == HS_SECRET
    page = admin.get(EDIT).get_data(as_text=True)
    assert 'id="signing_keys-0-secret-hint">Leave empty to keep the current value.' in page
    assert 'id="signing_keys-1-secret-hint">Leave empty' not in page


def test_edit_keeps_the_signing_secret_and_adds_a_public_key(
    admin: FlaskClient, deps: Deps
) -> None:
    create_property(admin)
    pem = p256_public_pem()
    form = edit_form(
        **{
            "name": "ACME site",
            "signing_keys-0-secret": "",
            "signing_keys-1-kid": "k2",
            "signing_keys-1-algorithm": "ES256",
            "signing_keys-1-secret": "",
            "signing_keys-1-public_key": pem,
        }
    )
    response = submit(admin, EDIT, form)
    assert response.status_code == 302, response.get_data(as_text=True)
    stored = configuration.get_object(deps, "properties", "acme-web")
    assert stored["name"] == "ACME site"
    assert [(k["kid"], k["algorithm"]) for k in stored["signing_keys"]] == [
        ("k1", "HS256"),
        ("k2", "ES256"),
    ]
    assert stored_secret(deps) == HS_SECRET
    page = admin.get(EDIT).get_data(as_text=True)
    assert "BEGIN PUBLIC KEY" in page  # public keys are not secrets


def test_removing_a_signing_key(admin: FlaskClient, deps: Deps) -> None:
    create_property(
        admin,
        **{
            "signing_keys-1-kid": "k2",
            "signing_keys-1-algorithm": "HS256",
            "signing_keys-1-secret": HS_SECRET + "-two",
            "signing_keys-1-public_key": "",
        },
    )
    assert count_rows(deps, SigningKey) == 2
    form = edit_form(
        **{
            "signing_keys-0-secret": "",
            "signing_keys-0-remove": "y",
            "signing_keys-1-kid": "k2",
            "signing_keys-1-algorithm": "HS256",
            "signing_keys-1-secret": "",
            "signing_keys-1-public_key": "",
        }
    )
    assert submit(admin, EDIT, form).status_code == 302
    assert count_rows(deps, SigningKey) == 1
    assert stored_secret(deps, "k2") == HS_SECRET + "-two"


def test_only_selected_subscriptions(admin: FlaskClient, deps: Deps) -> None:
    create_connection(admin, sandbox="y")
    assert submit(admin, "/admin/subscriptions/new", subscription_form()).status_code == 302
    create_property(admin, subscriptions_mode="some", subscriptions="newsletter")
    assert configuration.get_object(deps, "properties", "acme-web")["subscriptions"] == [
        "newsletter"
    ]
    page = admin.get(EDIT).get_data(as_text=True)
    assert 'checked id="subscriptions-0"' in page


def test_service_errors_name_their_paths(admin: FlaskClient, deps: Deps) -> None:
    response = submit(
        admin,
        NEW,
        property_form(
            **{
                "allowed_origins": "https://www.acme.com\nhttps://acme.com/page",
                "signing_keys-0-secret": "too-short",
                "languages": "en, sp",
                "token_max_ttl": "7200",
                "theme": "Accent: red",
            }
        ),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for path in (
        "allowed_origins[1]",
        "signing_keys[0].secret",
        "languages[1]",
        "token_max_ttl",
        "theme.Accent",
    ):
        assert f"{path}: " in page, path
    assert 'id="signing_keys-0-secret-error"' in page
    assert 'id="token_max_ttl-error"' in page
    assert count_rows(deps, Property) == 0
    assert count_rows(deps, SigningKey) == 0
    assert "too-short" not in page


def test_new_hs256_key_needs_a_secret(admin: FlaskClient, deps: Deps) -> None:
    response = submit(admin, NEW, property_form(**{"signing_keys-0-secret": ""}))
    assert response.status_code == 422
    assert "signing_keys[0].secret: required" in response.get_data(as_text=True)
    assert count_rows(deps, Property) == 0


def test_theme_line_without_a_colon_is_a_form_error(admin: FlaskClient, deps: Deps) -> None:
    response = submit(admin, NEW, property_form(theme="accent-color #fff"))
    assert response.status_code == 422
    assert "Line 1 is not in the form name: value." in response.get_data(as_text=True)
    assert count_rows(deps, Property) == 0


def test_delete_property(admin: FlaskClient, deps: Deps) -> None:
    create_property(admin)
    url = "/admin/properties/acme-web/delete"
    token = csrf_token(admin.get(url).get_data(as_text=True))
    assert admin.post(url, data={"csrf_token": token}).status_code == 302
    with pytest.raises(NotFoundError):
        configuration.get_object(deps, "properties", "acme-web")
    assert count_rows(deps, SigningKey) == 0
