"""Visitor identity: the claims of a site-signed token and the rules they must meet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Tolerance for clocks that disagree between the site's backend and Optline.
CLOCK_SKEW_SECONDS = 60
ALLOWED_ALGORITHMS = ("HS256", "ES256", "RS256")


class TokenRejectedError(Exception):
    """The token does not prove an identity; the message says why, for logs and tests."""


@dataclass(frozen=True)
class VisitorIdentity:
    property_code: str
    external_id: str | None
    email: str | None
    proof: str  # "token:<kid>" or "email_code"
    expires_at: int


def check_claims(
    claims: Mapping[str, Any], *, property_code: str, max_ttl: int, now: int, kid: str
) -> VisitorIdentity:
    """Apply PRODUCT 1.6: aud, sub, iat and exp present; at most ``max_ttl`` long; not future."""
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if property_code not in audiences:
        raise TokenRejectedError("wrong audience")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise TokenRejectedError("sub must be a non-empty string of at most 255 characters")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not _is_int(iat) or not _is_int(exp):
        raise TokenRejectedError("iat and exp are required integers")
    assert isinstance(iat, int) and isinstance(exp, int)
    if iat > now + CLOCK_SKEW_SECONDS:
        raise TokenRejectedError("issued in the future")
    if exp <= now - CLOCK_SKEW_SECONDS:
        raise TokenRejectedError("expired")
    if exp - iat > max_ttl:
        raise TokenRejectedError(f"lifetime over {max_ttl} seconds")
    if exp <= iat:
        raise TokenRejectedError("exp must be after iat")
    email = claims.get("email")
    if email is not None and (not isinstance(email, str) or "@" not in email or len(email) > 254):
        raise TokenRejectedError("email claim is not an email address")
    return VisitorIdentity(
        property_code=property_code,
        external_id=sub,
        email=email.strip().lower() if isinstance(email, str) else None,
        proof=f"token:{kid}",
        expires_at=exp,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
