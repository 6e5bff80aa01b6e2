"""A seeded configuration for the security tests: the hostile seed plus a property whose only key
is an RS256 public key, and helpers to sign tokens and count rows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import func, select

from backend.db import models
from backend.services.configuration import apply_configuration
from backend.services.deps import Deps
from tests.hostile.conftest import PROPERTY, SECRET, seed_document

RSA_PROPERTY = "rsa-site"
RSA_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_PEM = (
    RSA_PRIVATE.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
TABLES = (
    models.Subject,
    models.Preference,
    models.LedgerEntry,
    models.LedgerHead,
    models.OutboxEntry,
    models.EmailCode,
    models.MailMessage,
)


def security_document() -> dict[str, Any]:
    doc = seed_document()
    doc["properties"].append(
        {
            "code": RSA_PROPERTY,
            "name": "RSA site",
            "allowed_origins": ["https://rsa.example"],
            "signing_keys": [{"kid": "rs1", "algorithm": "RS256", "public_key": RSA_PUBLIC_PEM}],
            "languages": ["en"],
        }
    )
    return doc


@pytest.fixture
def configured(deps: Deps) -> Deps:
    apply_configuration(deps, security_document(), dry_run=False, prune=False, actor="test")
    return deps


def claims(aud: str = PROPERTY, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"aud": aud, "sub": "user-1", "iat": now, "exp": now + 600} | overrides


def sign_hs256(payload: dict[str, Any], secret: str | bytes = SECRET, **header: Any) -> str:
    """HS256 by hand, so any key bytes (a PEM public key too) can be used as the HMAC secret."""
    head = {"alg": "HS256", "typ": "JWT", "kid": "k1"} | header
    head = {k: v for k, v in head.items() if v is not None}
    key = secret.encode() if isinstance(secret, str) else secret
    signing_input = f"{b64(head)}.{b64(payload)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def sign_rs256(payload: dict[str, Any], kid: str = "rs1") -> str:
    from joserfc.jwk import RSAKey

    key = RSAKey.import_key(
        RSA_PRIVATE.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"}, payload, key)


def sign_good(payload: dict[str, Any]) -> str:
    return jwt.encode({"alg": "HS256", "kid": "k1"}, payload, OctKey.import_key(SECRET.encode()))


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64(data: dict[str, Any]) -> str:
    return b64url(json.dumps(data).encode())


def row_counts(deps: Deps) -> dict[str, int]:
    with deps.session() as session:
        return {
            m.__tablename__: int(session.scalar(select(func.count()).select_from(m)) or 0)
            for m in TABLES
        }
