"""Who is calling the widget API: a site-signed identity token, or a widget session token that
Optline issued after an email code or a signed email link (the hosted page). Capture alone never
authorises anything.

Widget session tokens are HS256 JWTs signed with a key derived from ``OPTLINE_SECRET_KEY`` and
carry ``typ: optline-session+jwt`` in the header and ``typ: widget_session`` as a claim. A token's
header decides which verifier runs, and each verifier accepts only its own kind: a session token
needs Optline's key (no site has it), a site token can never take the session path. A session
from an email link names an external id (``sub: "ext:<id>"``, ``proof: "hmac_link"``) and its
choices are recorded with the ledger source "hosted".

Browsers send the token in the JSON body (``"token"``) so every widget call stays a CORS simple
request (no preflight); apps and servers keep using ``Authorization: Bearer``, which wins.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy.orm import Session

from backend.db.models import Property
from backend.domain.email_codes import SESSION_TTL_SECONDS
from backend.domain.identity import CLOCK_SKEW_SECONDS, TokenRejectedError, VisitorIdentity
from backend.services.deps import Deps
from backend.services.property_cache import PropertySnapshot
from backend.services.visitor_tokens import MAX_TOKEN_BYTES, verify_token

SESSION_HEADER_TYP = "optline-session+jwt"
SESSION_CLAIM_TYP = "widget_session"
SESSION_ISSUER = "optline"
SESSION_KID = "optline-session"
EMAIL_SUBJECT_PREFIX = "email:"
EXTERNAL_SUBJECT_PREFIX = "ext:"
LINK_PROOF = "hmac_link"
LINK_SESSION_TTL_SECONDS = 3600


def request_token(header: str | None, body: Any = None) -> str | None:
    """The caller's token: an ``Authorization: Bearer`` header when there is one (it wins), else
    the ``token`` field of the JSON body; None when neither carries one."""
    if header:
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    value = body.get("token") if isinstance(body, Mapping) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def bearer_token(header: str | None, body: Any = None) -> str:
    """``request_token``, or TokenRejectedError when the request carries none."""
    token = request_token(header, body)
    if token is None:
        raise TokenRejectedError("missing bearer token")
    return token


def may_request_data(identity: VisitorIdentity) -> bool:
    """Whether this visitor may ask for their data or its erasure: not from a session opened by
    an email link (a forwarded email must not let its reader download or delete someone's data;
    preferences, yes)."""
    return identity.proof != LINK_PROOF


def ledger_source(identity: VisitorIdentity) -> str:
    """The ledger source of a visitor's own choices: "hosted" when they came from an email link."""
    return "hosted" if identity.proof == LINK_PROOF else "widget"


def _session_key(deps: Deps) -> OctKey:
    derived = hmac.new(
        deps.settings.secret_key.encode(), b"optline widget session v1", hashlib.sha256
    ).digest()
    return OctKey.import_key(derived)


def mint_session_token(deps: Deps, property_code: str, email: str, now: int) -> str:
    claims: dict[str, Any] = {
        "iss": SESSION_ISSUER,
        "aud": property_code,
        "sub": EMAIL_SUBJECT_PREFIX + email,
        "iat": now,
        "exp": now + SESSION_TTL_SECONDS,
        "typ": SESSION_CLAIM_TYP,
        "jti": secrets.token_urlsafe(12),
    }
    header = {"alg": "HS256", "typ": SESSION_HEADER_TYP, "kid": SESSION_KID}
    return jwt.encode(header, claims, _session_key(deps))


def mint_link_session_token(deps: Deps, property_code: str, external_id: str, now: int) -> str:
    """A session for the visitor a verified email link names (the hosted page)."""
    claims: dict[str, Any] = {
        "iss": SESSION_ISSUER,
        "aud": property_code,
        "sub": EXTERNAL_SUBJECT_PREFIX + external_id,
        "iat": now,
        "exp": now + LINK_SESSION_TTL_SECONDS,
        "typ": SESSION_CLAIM_TYP,
        "proof": LINK_PROOF,
        "jti": secrets.token_urlsafe(12),
    }
    header = {"alg": "HS256", "typ": SESSION_HEADER_TYP, "kid": SESSION_KID}
    return jwt.encode(header, claims, _session_key(deps))


def authenticate(
    deps: Deps, session: Session, prop: Property | PropertySnapshot, token: str, now: int
) -> VisitorIdentity:
    """Verify either kind of token for ``prop``; raise TokenRejectedError with the reason."""
    if not token or len(token) > MAX_TOKEN_BYTES:
        raise TokenRejectedError("missing or oversized token")
    try:
        compact = jws.extract_compact(token.encode())
    except (JoseError, ValueError) as exc:
        raise TokenRejectedError("malformed token") from exc
    if compact.protected.get("typ") == SESSION_HEADER_TYP:
        return _verify_session_token(deps, prop, token, now)
    return verify_token(deps, session, prop.code, compact)


def _verify_session_token(
    deps: Deps, prop: Property | PropertySnapshot, token: str, now: int
) -> VisitorIdentity:
    try:
        decoded = jwt.decode(token, _session_key(deps), algorithms=["HS256"])
    except (JoseError, ValueError) as exc:
        raise TokenRejectedError("bad session token signature") from exc
    claims = decoded.claims
    if decoded.header.get("typ") != SESSION_HEADER_TYP or claims.get("typ") != SESSION_CLAIM_TYP:
        raise TokenRejectedError("not a widget session token")
    if claims.get("iss") != SESSION_ISSUER or claims.get("aud") != prop.code:
        raise TokenRejectedError("wrong audience")
    sub, iat, exp = claims.get("sub"), claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        raise TokenRejectedError("iat and exp are required integers")
    link = claims.get("proof") == LINK_PROOF
    if link and isinstance(sub, str) and sub.startswith(EXTERNAL_SUBJECT_PREFIX):
        external_id, ttl = sub[len(EXTERNAL_SUBJECT_PREFIX) :], LINK_SESSION_TTL_SECONDS
    elif not link and isinstance(sub, str) and sub.startswith(EMAIL_SUBJECT_PREFIX):
        external_id, ttl = None, SESSION_TTL_SECONDS
        if not prop.email_verification:
            raise TokenRejectedError("email verification is off for this property")
    else:
        raise TokenRejectedError("session token names no email or external id")
    if iat > now + CLOCK_SKEW_SECONDS or exp <= now or exp - iat > ttl:
        raise TokenRejectedError("session token expired or not yet valid")
    if external_id is not None:
        if not external_id:
            raise TokenRejectedError("session token names no external id")
        return VisitorIdentity(
            property_code=prop.code,
            external_id=external_id,
            email=None,
            proof=LINK_PROOF,
            expires_at=exp,
        )
    assert isinstance(sub, str)
    return VisitorIdentity(
        property_code=prop.code,
        external_id=None,
        email=sub[len(EMAIL_SUBJECT_PREFIX) :],
        proof="email_code",
        expires_at=exp,
    )
