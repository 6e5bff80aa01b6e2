"""Fixtures for the preference center: a configured property against the Braze fake over HTTP,
visitor tokens (good and forged), and a real RQ queue on a real Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import func, select

from backend.db import models
from backend.jobs import runtime
from backend.services.configuration import apply_configuration
from backend.services.deps import Deps
from tests.fakes.braze_fake import BrazeFake

PROPERTY = "acme-web"
ORIGIN = "https://www.acme.com"
SECRET = "acme-signing-secret-that-is-long-enough-0123456789"
GROUPS = {
    ("newsletter", "email"): "3b2c0000-0000-4000-8000-000000000001",
    ("newsletter", "sms"): "7a1d0000-0000-4000-8000-000000000002",
    ("offers", "email"): "3b2c0000-0000-4000-8000-000000000003",
    ("offers", "push"): "7a1d0000-0000-4000-8000-000000000004",
}
TABLES = (
    models.Subject,
    models.Preference,
    models.LedgerEntry,
    models.LedgerHead,
    models.OutboxEntry,
    models.EmailCode,
    models.MailMessage,
    models.BrazeRequestRecord,
)


def document(
    rest_endpoint: str,
    *,
    api_key: str = "test-key",
    sandbox: bool = False,
    identity: str = "external_id",
    create_missing_users: bool = True,
    email_verification: bool = True,
) -> dict[str, Any]:
    channels: dict[str, list[dict[str, str]]] = {}
    for (topic, channel), group in GROUPS.items():
        channels.setdefault(topic, []).append(
            {"channel": channel, "connection": "braze-main", "subscription_group_id": group}
        )
    return {
        "braze_connections": [
            {
                "code": "braze-main",
                "name": "Braze",
                "rest_endpoint": rest_endpoint,
                "api_key": api_key,
                "identity": identity,
                "sandbox": sandbox,
                "create_missing_users": create_missing_users,
                "budget_share": 1.0,
            }
        ],
        "properties": [
            {
                "code": PROPERTY,
                "name": "ACME website",
                "allowed_origins": [ORIGIN],
                "signing_keys": [{"kid": "k1", "secret": SECRET}],
                "identity_capture": [{"source": "queue"}],
                "email_verification": email_verification,
                "languages": ["en", "es"],
            },
            {
                "code": "other-site",
                "name": "Other site",
                "allowed_origins": ["https://other.example"],
                "signing_keys": [{"kid": "o1", "secret": "other-" + SECRET}],
                "languages": ["en"],
            },
        ],
        "subscriptions": [
            {
                "code": "newsletter",
                "name": {"en": "Newsletter", "es": "Boletín"},
                "description": {"en": "Product news once a month", "es": "Novedades cada mes"},
                "channels": channels["newsletter"],
            },
            {
                "code": "offers",
                "name": {"en": "Offers", "es": "Ofertas"},
                "description": {"en": "Discounts", "es": "Descuentos"},
                "channels": channels["offers"],
            },
        ],
    }


def configure(deps: Deps, rest_endpoint: str, **options: Any) -> None:
    apply_configuration(
        deps, document(rest_endpoint, **options), dry_run=False, prune=False, actor="test"
    )


def sign(
    claims: dict[str, Any],
    *,
    secret: str = SECRET,
    kid: str = "k1",
    header: dict[str, Any] | None = None,
) -> str:
    return jwt.encode(
        header or {"alg": "HS256", "kid": kid, "typ": "JWT"},
        claims,
        OctKey.import_key(secret.encode()),
    )


def token(sub: str = "user-1", *, email: str | None = None, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"aud": PROPERTY, "sub": sub, "iat": now, "exp": now + 600}
    if email:
        claims["email"] = email
    claims.update(overrides)
    return sign(claims)


def auth(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def row_counts(deps: Deps) -> dict[str, int]:
    with deps.session() as session:
        return {
            m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0
            for m in TABLES
        }


def connection_id(deps: Deps, code: str = "braze-main") -> int:
    with deps.session() as session:
        found = session.scalar(
            select(models.BrazeConnection.id).where(models.BrazeConnection.code == code)
        )
    assert found is not None
    return int(found)


@pytest.fixture
def braze() -> Iterator[BrazeFake]:
    fake = BrazeFake().start()
    for group in GROUPS.values():
        fake.add_subscription_group(group)
    yield fake
    fake.stop()


@pytest.fixture
def configured(deps: Deps, braze: BrazeFake) -> Deps:
    configure(deps, braze.url)
    return deps


@pytest.fixture
def job_deps(configured: Deps) -> Iterator[Deps]:
    """Jobs run in this process see the test's deps."""
    runtime.set_deps(configured)
    yield configured
    runtime.set_deps(None)


Saver = Callable[..., Any]
