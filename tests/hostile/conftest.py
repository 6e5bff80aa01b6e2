"""A seeded configuration (sandbox Braze, HS256 key, topics) and credentials for both APIs."""

from __future__ import annotations

from typing import Any

import pytest

from backend.services.configuration import apply_configuration
from backend.services.deps import Deps

PROPERTY = "acme-web"
ORIGIN = "https://www.acme.com"
SECRET = "hostile-signing-secret-long-enough-0123456789abcdef"
BRAZE_KEY = "hostile-braze-api-key-0123456789abcdef"


def seed_document() -> dict[str, Any]:
    return {
        "braze_connections": [
            {
                "code": "braze-main",
                "name": "Braze sandbox",
                "rest_endpoint": "https://rest.iad-01.braze.com",
                "api_key": BRAZE_KEY,
                "identity": "external_id",
                "sandbox": True,
                "create_missing_users": True,
            }
        ],
        "properties": [
            {
                "code": PROPERTY,
                "name": "ACME website",
                "allowed_origins": [ORIGIN],
                "signing_keys": [{"kid": "k1", "secret": SECRET}],
                "identity_capture": [{"source": "queue"}],
                "email_verification": True,
                "languages": ["en", "es"],
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
                        "subscription_group_id": "3b2c0000-0000-4000-8000-000000000001",
                    },
                    {
                        "channel": "sms",
                        "connection": "braze-main",
                        "subscription_group_id": "7a1d0000-0000-4000-8000-000000000002",
                    },
                ],
            }
        ],
    }


@pytest.fixture
def seeded(deps: Deps) -> Deps:
    apply_configuration(deps, seed_document(), dry_run=False, prune=False, actor="test")
    return deps
