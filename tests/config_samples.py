"""A configuration that uses every field, its secrets, and helpers to compare database states."""

from __future__ import annotations

import copy
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select, text

from backend.db.models import Base
from backend.services.deps import Deps

API_KEY = "braze-api-key-PLAINTEXT-0f1e2d3c4b5a69788796a5b4"
AWS_SECRET = "aws-secret-PLAINTEXT-wJalrXUtnFEMIK7MDENGbPxRfiCY"
SIGNING_SECRET = "signing-secret-PLAINTEXT-3a9f0c1d2e8b7a6f5e4d3c2b1a"
SECRETS = (API_KEY, AWS_SECRET, SIGNING_SECRET)
ENVIRON = {
    "BRAZE_API_KEY": API_KEY,
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
    "ACME_SIGNING_SECRET": SIGNING_SECRET,
}
GROUP_EMAIL = "3b2c1d4e-0000-4000-8000-000000000001"
GROUP_SMS = "7a1d2c3b-0000-4000-8000-000000000002"
GROUP_PUSH = "9c8b7a6d-0000-4000-8000-000000000003"


def ec_public_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


EC_PUBLIC_KEY = ec_public_key()


def sample_document() -> dict[str, Any]:
    """The PRODUCT 1.4 example with its secrets filled in, plus the optional fields."""
    return copy.deepcopy(
        {
            "braze_connections": [
                {
                    "code": "braze-main",
                    "name": "Braze production",
                    "rest_endpoint": "https://rest.iad-03.braze.com",
                    "api_key": API_KEY,
                    "identity": "external_id",
                    "sandbox": False,
                    "create_missing_users": True,
                    "s3": {
                        "bucket": "acme-braze-exports",
                        "prefix": "optline/",
                        "region": "us-east-1",
                        "endpoint_url": None,
                        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                        "secret_access_key": AWS_SECRET,
                    },
                }
            ],
            "properties": [
                {
                    "code": "acme-web",
                    "name": "ACME website",
                    "allowed_origins": ["https://www.acme.com"],
                    "signing_keys": [
                        {"kid": "k1", "secret": SIGNING_SECRET},
                        {"kid": "ec1", "algorithm": "ES256", "public_key": EC_PUBLIC_KEY},
                    ],
                    "identity_capture": [
                        {"source": "queue"},
                        {"source": "cookie", "key": "optline_token"},
                    ],
                    "email_verification": True,
                    "languages": ["en", "es"],
                    "subscriptions": ["newsletter"],
                    "theme": {"accent-color": "#0055ff", "radius": "6px"},
                    "token_max_ttl": 900,
                }
            ],
            "subscriptions": [
                {
                    "code": "newsletter",
                    "name": {"en": "Newsletter", "es": "Boletín"},
                    "description": {"en": "Product news once a month", "es": "Novedades"},
                    "channels": [
                        {
                            "channel": "email",
                            "connection": "braze-main",
                            "subscription_group_id": GROUP_EMAIL,
                        },
                        {
                            "channel": "sms",
                            "connection": "braze-main",
                            "subscription_group_id": GROUP_SMS,
                        },
                    ],
                },
                {
                    "code": "offers",
                    "name": "Offers",
                    "position": 2,
                    "channels": [
                        {
                            "channel": "push",
                            "connection": "braze-main",
                            "subscription_group_id": GROUP_PUSH,
                        },
                    ],
                },
            ],
        }
    )


SAMPLE_YAML = """\
braze_connections:
  - code: braze-main
    name: Braze production
    rest_endpoint: https://rest.iad-03.braze.com
    api_key: ${BRAZE_API_KEY}
    identity: external_id
    sandbox: false
    create_missing_users: true
    s3:
      bucket: acme-braze-exports
      prefix: optline/
      region: us-east-1
      endpoint_url: null
      access_key_id: ${AWS_ACCESS_KEY_ID}
      secret_access_key: ${AWS_SECRET_ACCESS_KEY}
properties:
  - code: acme-web
    name: ACME website
    allowed_origins: [https://www.acme.com]
    signing_keys:
      - {kid: k1, secret: "${ACME_SIGNING_SECRET}"}
    identity_capture:
      - {source: queue}
      - {source: cookie, key: optline_token}
    email_verification: true
    languages: [en, es]
    subscriptions: [newsletter]
subscriptions:
  - code: newsletter
    name: {en: Newsletter, es: Boletín}
    description: {en: Product news once a month, es: Novedades una vez al mes}
    channels:
      - channel: email
        connection: braze-main
        subscription_group_id: 3b2c1d4e-0000-4000-8000-000000000001
      - channel: sms
        connection: braze-main
        subscription_group_id: 7A1D2C3B-0000-4000-8000-000000000002   # case does not matter
"""


def row_counts(deps: Deps) -> dict[str, int]:
    """Rows of every table, to prove a failed apply wrote nothing anywhere."""
    with deps.session() as session:
        return {
            table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def snapshot(deps: Deps, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ordered: equal snapshots mean nothing was written.

    ``skip`` leaves out tables a request touches by design (api_tokens.last_used_at).
    """
    with deps.session() as session:
        return {
            table.name: [
                tuple(row)
                for row in session.execute(text(f'SELECT * FROM "{table.name}" ORDER BY 1'))
            ]
            for table in Base.metadata.sorted_tables
            if table.name not in skip
        }


def raw_dump(deps: Deps) -> str:
    """The text of every stored row, to search for plaintext secrets."""
    return repr(snapshot(deps))
