"""Secrets are stored encrypted and never shown back: not in rows, exports, APIs, audit or logs."""

import json
import logging

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from backend.domain.config_specs import REDACTED
from backend.services.admin_auth import create_api_token
from backend.services.configuration import (
    apply_configuration,
    export_configuration,
    get_object,
    list_audit_entries,
    list_objects,
    put_object,
)
from backend.services.deps import Deps
from tests.config_samples import (
    API_KEY,
    AWS_SECRET,
    SECRETS,
    SIGNING_SECRET,
    raw_dump,
    sample_document,
)


def assert_no_secret(text_: str) -> None:
    for secret in SECRETS:
        assert secret not in text_
        assert secret[8:30] not in text_  # not even a part of one


def test_secrets_are_stored_encrypted_and_decrypt_back(deps: Deps) -> None:
    apply_configuration(deps, sample_document(), dry_run=False, prune=False, actor="t")
    with deps.session() as s:
        connection = s.execute(text("SELECT * FROM braze_connections")).mappings().one()
        keys = s.execute(text("SELECT * FROM signing_keys ORDER BY kid")).mappings().all()
    assert deps.secrets.decrypt(connection["api_key_encrypted"]) == API_KEY
    assert deps.secrets.decrypt(connection["s3_secret_access_key_encrypted"]) == AWS_SECRET
    assert deps.secrets.decrypt(keys[1]["secret_encrypted"]) == SIGNING_SECRET
    assert_no_secret(raw_dump(deps))


def test_secrets_never_come_back_out(
    deps: Deps, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    apply_configuration(deps, sample_document(), dry_run=False, prune=False, actor="t")
    changed = sample_document()
    changed["braze_connections"][0]["api_key"] = API_KEY[::-1]
    changed["properties"][0]["signing_keys"][0]["secret"] = SIGNING_SECRET[::-1]
    apply_configuration(deps, changed, dry_run=False, prune=False, actor="t")
    apply_configuration(deps, sample_document(), dry_run=True, prune=False, actor="t")
    apply_configuration(deps, sample_document(), dry_run=False, prune=False, actor="t")
    result, stored = put_object(
        deps, "braze_connections", sample_document()["braze_connections"][0], actor="t"
    )
    assert result == "unchanged" and stored["api_key"] == REDACTED
    shown = [
        export_configuration(deps),
        list_objects(deps, "properties"),
        get_object(deps, "braze_connections", "braze-main"),
        list_audit_entries(deps, limit=100),
    ]
    token = create_api_token(deps, "secrets-test")
    headers = {"Authorization": f"Bearer {token}"}
    for url in (
        "/api/admin/v1/config",
        "/api/admin/v1/braze_connections",
        "/api/admin/v1/braze_connections/braze-main",
        "/api/admin/v1/properties/acme-web",
        "/api/admin/v1/audit?limit=500",
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        shown.append(response.get_data(as_text=True))
    response = client.put(
        "/api/admin/v1/braze_connections/braze-main",
        json=sample_document()["braze_connections"][0] | {"name": "Renamed"},
        headers=headers,
    )
    assert response.status_code == 200 and response.json["object"]["api_key"] == REDACTED
    shown.append(response.get_data(as_text=True))
    # An invalid secret must not be echoed in the error either.
    bad = sample_document()["properties"][0]
    bad["signing_keys"][0]["secret"] = SIGNING_SECRET[:20]
    response = client.put("/api/admin/v1/properties/acme-web", json=bad, headers=headers)
    assert response.status_code == 400
    shown.append(response.get_data(as_text=True))
    audit = list_audit_entries(deps, limit=100)
    assert {"fields": ["api_key"]} in [e["details"] for e in audit]
    assert_no_secret(json.dumps(shown, ensure_ascii=False))
    assert_no_secret(caplog.text)
    for secret in (API_KEY[::-1], SIGNING_SECRET[::-1]):
        assert secret not in json.dumps(shown) and secret not in caplog.text
    assert_no_secret(raw_dump(deps))
