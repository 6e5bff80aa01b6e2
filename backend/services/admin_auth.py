"""Admin users and admin API tokens: creation and verification."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from backend.db.models import AdminUser, ApiToken
from backend.domain.errors import AuthError, ConflictError, ValidationError
from backend.services.audit import record_change
from backend.services.deps import Deps

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "olt_"  # noqa: S105 - a public prefix, not a secret
# Checked against when the email is unknown so both paths cost one password hash.
_DUMMY_HASH = generate_password_hash("optline-dummy-password")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_admin_user(deps: Deps, email: str, password: str) -> int:
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise ValidationError(f"email: {email!r} is not an email address")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"password: must be at least {MIN_PASSWORD_LENGTH} characters")
    with deps.session() as session:
        if session.scalar(select(AdminUser).where(AdminUser.email == email)):
            raise ConflictError(f"an admin user {email} already exists")
        user = AdminUser(email=email, password_hash=generate_password_hash(password))
        session.add(user)
        session.flush()
        return user.id


def set_admin_password(deps: Deps, email: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"password: must be at least {MIN_PASSWORD_LENGTH} characters")
    with deps.session() as session:
        user = session.scalar(select(AdminUser).where(AdminUser.email == email.strip().lower()))
        if user is None:
            raise ValidationError(f"no admin user {email}")
        user.password_hash = generate_password_hash(password)


def authenticate_admin(deps: Deps, email: str, password: str) -> int:
    """Return the user id for a correct email and password, else raise AuthError."""
    with deps.session() as session:
        user = session.scalar(select(AdminUser).where(AdminUser.email == email.strip().lower()))
        if user is None or not user.active:
            check_password_hash(_DUMMY_HASH, password)
            raise AuthError("wrong email or password")
        if not check_password_hash(user.password_hash, password):
            raise AuthError("wrong email or password")
        user.last_login_at = deps.clock()
        return user.id


def create_api_token(
    deps: Deps, name: str, created_by: int | None = None, *, actor: str = "cli"
) -> str:
    """Create a bearer token; only its hash is stored, so this is the one time it is seen."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("name: between 1 and 100 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with deps.session() as session:
        if session.scalar(select(ApiToken).where(ApiToken.name == name)):
            raise ConflictError(f"an API token named {name!r} already exists")
        session.add(
            ApiToken(
                name=name,
                token_hash=hash_token(token),
                prefix=token[: len(TOKEN_PREFIX) + 4],
                created_by=created_by,
            )
        )
        record_change(
            session, actor=actor, action="created", object_type="api_token", object_code=name
        )
    return token


def verify_api_token(deps: Deps, token: str) -> str:
    """Return the token's name, or raise AuthError."""
    if not token.startswith(TOKEN_PREFIX):
        raise AuthError("invalid API token")
    digest = hash_token(token)
    with deps.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if (
            row is None
            or row.revoked_at is not None
            or not hmac.compare_digest(row.token_hash, digest)
        ):
            raise AuthError("invalid API token")
        now = deps.clock()
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            row.last_used_at = now
        return row.name
