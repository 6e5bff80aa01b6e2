"""The demo that ``make dev`` seeds on first run: a property, topics, a sandbox Braze connection."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from backend.db.models import AdminUser, Property
from backend.services.admin_auth import create_admin_user
from backend.services.deps import Deps

DEMO_PROPERTY = "demo"
DEMO_ADMIN_EMAIL = "admin@example.com"
# Placeholder group ids: the demo connection is a sandbox, so nothing reaches Braze.
DEMO_GROUPS = {
    ("newsletter", "email"): "11111111-1111-4111-8111-111111111101",
    ("newsletter", "sms"): "11111111-1111-4111-8111-111111111102",
    ("product-updates", "email"): "11111111-1111-4111-8111-111111111103",
    ("product-updates", "push"): "11111111-1111-4111-8111-111111111104",
    ("offers", "email"): "11111111-1111-4111-8111-111111111105",
    ("offers", "sms"): "11111111-1111-4111-8111-111111111106",
    ("offers", "whatsapp"): "11111111-1111-4111-8111-111111111107",
}


@dataclass(frozen=True)
class DemoSummary:
    admin_email: str
    admin_password: str
    created: bool


def demo_document(public_url: str, signing_secret: str) -> dict[str, Any]:
    texts = {
        "newsletter": (
            {"en": "Newsletter", "es": "Boletín"},
            {"en": "Product news once a month", "es": "Novedades una vez al mes"},
        ),
        "product-updates": (
            {"en": "Product updates", "es": "Actualizaciones del producto"},
            {"en": "New features as they ship", "es": "Funciones nuevas en cuanto salen"},
        ),
        "offers": (
            {"en": "Offers", "es": "Ofertas"},
            {"en": "Discounts and promotions", "es": "Descuentos y promociones"},
        ),
    }
    subscriptions = []
    for code, (name, description) in texts.items():
        channels = [
            {"channel": channel, "connection": "braze-demo", "subscription_group_id": group}
            for (topic, channel), group in DEMO_GROUPS.items()
            if topic == code
        ]
        subscriptions.append(
            {"code": code, "name": name, "description": description, "channels": channels}
        )
    return {
        "braze_connections": [
            {
                "code": "braze-demo",
                "name": "Braze (sandbox)",
                "rest_endpoint": "https://rest.iad-01.braze.com",
                "api_key": "sandbox-key-not-sent-anywhere",
                "identity": "external_id",
                "sandbox": True,
                "create_missing_users": True,
            }
        ],
        "properties": [
            {
                "code": DEMO_PROPERTY,
                "name": "Demo site",
                "allowed_origins": [public_url],
                "signing_keys": [{"kid": "demo-1", "secret": signing_secret}],
                "identity_capture": [
                    {"source": "queue"},
                    {"source": "cookie", "key": "optline_token"},
                ],
                "email_verification": True,
                "languages": ["en", "es"],
            }
        ],
        "subscriptions": subscriptions,
    }


def seed_demo(deps: Deps) -> DemoSummary:
    """Seed once; later runs only report the login (its password is kept in the instance folder)."""
    from backend.services.configuration import apply_configuration

    password_file = deps.settings.instance_path / "dev-admin-password"
    with deps.session() as session:
        has_admin = (session.scalar(select(func.count()).select_from(AdminUser)) or 0) > 0
        has_demo = (
            session.scalar(select(Property).where(Property.code == DEMO_PROPERTY)) is not None
        )
    created = False
    if not has_demo:
        document = demo_document(deps.settings.public_url, secrets.token_urlsafe(32))
        apply_configuration(deps, document, dry_run=False, prune=False, actor="seed:demo")
        created = True
    if not has_admin:
        password = secrets.token_urlsafe(12)
        create_admin_user(deps, DEMO_ADMIN_EMAIL, password)
        password_file.write_text(password)
        password_file.chmod(0o600)
        created = True
    password = password_file.read_text().strip() if password_file.exists() else "(set by you)"
    return DemoSummary(admin_email=DEMO_ADMIN_EMAIL, admin_password=password, created=created)
