"""The per-process property cache never outlives a configuration change by more than its bound:
a change made through this process is seen at once, one made by another process (written
straight to the database here) within ``CACHE_SECONDS``; secrets are decrypted once per key."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from backend.db import models
from backend.services import property_cache
from backend.services.configuration import apply_configuration
from backend.services.deps import Deps
from backend.services.property_cache import CACHE_SECONDS, property_snapshot
from tests.fakes.braze_fake import BrazeFake
from tests.integration.preferences.conftest import PROPERTY, auth, document, sign, token

pytestmark = pytest.mark.integration
SAVE = "/api/public/v1/preferences"
NEW_SECRET = "a-brand-new-signing-secret-for-acme-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def snapshot(deps: Deps, clock: Clock) -> property_cache.PropertySnapshot:
    with deps.session() as session:
        found = property_snapshot(deps, session, PROPERTY, monotonic=clock)
    assert found is not None
    return found


def elsewhere(deps: Deps, statement: Any) -> None:
    """A change made by another process: straight to the database, no in-process signal."""
    with deps.session() as session:
        session.execute(statement)


def save(client: FlaskClient, bearer: str) -> int:
    body = {
        "property": PROPERTY,
        "changes": [{"subscription": "newsletter", "channel": "email", "state": "subscribed"}],
    }
    return client.post(SAVE, json=body, headers=auth(bearer)).status_code


def test_another_process_change_is_seen_within_the_bound(configured: Deps) -> None:
    clock = Clock()
    first = snapshot(configured, clock)
    elsewhere(
        configured,
        update(models.Property)
        .where(models.Property.code == PROPERTY)
        .values(token_max_ttl=600, config_version=models.Property.config_version + 1),
    )
    clock.now += CACHE_SECONDS - 0.5
    assert snapshot(configured, clock) is first  # still within the bound: no query at all
    clock.now += 1.0
    fresh = snapshot(configured, clock)
    assert fresh.token_max_ttl == 600
    assert fresh.config_version == first.config_version + 1


def test_an_unchanged_version_keeps_the_snapshot_after_the_bound(configured: Deps) -> None:
    clock = Clock()
    first = snapshot(configured, clock)
    clock.now += CACHE_SECONDS * 3
    assert snapshot(configured, clock) is first


def test_a_braze_connection_change_is_seen_within_the_bound(configured: Deps) -> None:
    """Connections carry no property version: their last update is compared instead."""
    clock = Clock()
    first = snapshot(configured, clock)
    assert {c.identity for c in first.connections.values()} == {"external_id"}
    with configured.session() as session:
        row = session.scalars(select(models.BrazeConnection)).one()
        row.identity = "email"  # the ORM bumps updated_at, as every real edit does
    clock.now += CACHE_SECONDS + 0.5
    assert {c.identity for c in snapshot(configured, clock).connections.values()} == {"email"}


def test_a_change_through_this_process_is_seen_at_once(
    client: FlaskClient, configured: Deps, braze: BrazeFake
) -> None:
    assert save(client, token("user-1")) == 200
    changed = document(braze.url)
    changed["properties"][0]["signing_keys"] = [{"kid": "k2", "secret": NEW_SECRET}]
    apply_configuration(configured, changed, dry_run=False, prune=False, actor="test")
    assert save(client, token("user-1")) == 401  # the old key is gone, no waiting
    now = int(time.time())
    claims = {"aud": PROPERTY, "sub": "user-1", "iat": now, "exp": now + 600}
    assert save(client, sign(claims, secret=NEW_SECRET, kid="k2")) == 200


def test_a_secret_is_decrypted_once_per_key_version(
    client: FlaskClient, configured: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    decrypt = configured.secrets.decrypt

    def counting(ciphertext: str) -> str:
        calls.append(ciphertext)
        return decrypt(ciphertext)

    monkeypatch.setattr(configured.secrets, "decrypt", counting)
    for n in range(5):
        assert save(client, token(f"user-{n}")) == 200
    assert len(calls) == 1
    # Re-encrypting the key (a rotation) is a new key version: decrypted once more.
    with configured.session() as session:
        key = session.scalars(select(models.SigningKey).where(models.SigningKey.kid == "k1")).one()
        key.secret_encrypted = configured.secrets.rotate(key.secret_encrypted or "")
        prop = session.scalars(select(models.Property).where(models.Property.code == PROPERTY))
        prop.one().config_version += 1
    property_cache.configuration_changed()
    assert save(client, token("user-9")) == 200
    assert len(calls) == 2
