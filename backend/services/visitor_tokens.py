"""Minting and verifying the visitor identity tokens (JWT) that sites sign for their visitors."""

from __future__ import annotations

import json
import time
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Property
from backend.domain.errors import NotFoundError, ValidationError
from backend.domain.identity import (
    ALLOWED_ALGORITHMS,
    TokenRejectedError,
    VisitorIdentity,
    check_claims,
)
from backend.services.deps import Deps
from backend.services.property_cache import property_snapshot, verification_key

MAX_TOKEN_BYTES = 4096

# One registry per accepted algorithm, built once (joserfc builds one per call otherwise).
_REGISTRIES = {alg: jws.JWSRegistry(algorithms=[alg]) for alg in ALLOWED_ALGORITHMS}


def mint_token(
    deps: Deps,
    property_code: str,
    external_id: str,
    *,
    email: str | None = None,
    ttl: int = 3600,
    kid: str | None = None,
) -> str:
    """Sign a token the way a site's backend would (HS256 with the property's secret)."""
    with deps.session() as session:
        prop = _property(session, property_code)
        if ttl < 1 or ttl > min(prop.token_max_ttl, deps.settings.max_token_ttl):
            raise ValidationError(
                f"ttl: must be between 1 and {min(prop.token_max_ttl, deps.settings.max_token_ttl)}"
            )
        keys = [k for k in prop.signing_keys if k.algorithm == "HS256" and k.secret_encrypted]
        if kid is not None:
            keys = [k for k in keys if k.kid == kid]
        if not keys:
            raise ValidationError(
                f"property {property_code} has no HS256 signing key"
                + (f" with kid {kid!r}" if kid else "")
            )
        key = keys[-1]
        assert key.secret_encrypted is not None
        secret = deps.secrets.decrypt(key.secret_encrypted)
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": property_code,
        "sub": external_id,
        "iat": now,
        "exp": now + ttl,
    }
    if email:
        claims["email"] = email
    return jwt.encode(
        {"alg": "HS256", "kid": key.kid, "typ": "JWT"}, claims, OctKey.import_key(secret.encode())
    )


def verify_token(
    deps: Deps, session: Session, property_code: str, compact: jws.CompactSignature
) -> VisitorIdentity:
    """Verify signature and claims of a site's token, already checked for size and split into
    its parts (``widget_identity.authenticate``); raise TokenRejectedError with the reason."""
    header = compact.protected
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALLOWED_ALGORITHMS:
        raise TokenRejectedError(f"algorithm {alg!r} not accepted")
    # The property, its keys and key objects come from the per-process cache (property_cache).
    prop = property_snapshot(deps, session, property_code)
    if prop is None:
        raise TokenRejectedError("unknown property")
    candidates = [
        k for k in prop.signing_keys if k.algorithm == alg and (kid is None or k.kid == kid)
    ]
    if not candidates:
        raise TokenRejectedError("no key with that kid and algorithm")
    for key in candidates:
        try:
            valid = jws.validate_compact(
                compact, verification_key(deps, key), registry=_REGISTRIES[key.algorithm]
            )
        except JoseError:
            continue
        if not valid:
            continue
        claims = _claims(compact)
        max_ttl = min(prop.token_max_ttl, deps.settings.max_token_ttl)
        return check_claims(
            claims,
            property_code=property_code,
            max_ttl=max_ttl,
            now=int(time.time()),
            kid=key.kid,
        )
    raise TokenRejectedError("bad signature")


def _claims(compact: jws.CompactSignature) -> dict[str, Any]:
    """The signed payload as a JSON object, as ``jwt.decode`` would give it."""
    try:
        claims = json.loads(compact.payload)
    except (TypeError, ValueError) as exc:
        raise TokenRejectedError("claims are not JSON") from exc
    if not isinstance(claims, dict):
        raise TokenRejectedError("claims are not a JSON object")
    return claims


def _property(session: Session, code: str) -> Property:
    prop = session.scalar(select(Property).where(Property.code == code))
    if prop is None:
        raise NotFoundError(f"property {code!r} does not exist")
    return prop
