"""Admin API tokens as the settings page sees them: listing, issuing and revoking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from backend.db.models import ApiToken
from backend.domain.errors import ConflictError, NotFoundError
from backend.services.admin_auth import create_api_token
from backend.services.audit import record_change
from backend.services.deps import Deps


@dataclass(frozen=True)
class ApiTokenSummary:
    """Everything about a token except the token: only its hash is stored."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def list_api_tokens(deps: Deps) -> list[ApiTokenSummary]:
    with deps.session() as session:
        rows = session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())).all()
        return [
            ApiTokenSummary(
                id=r.id,
                name=r.name,
                prefix=r.prefix,
                created_at=r.created_at,
                last_used_at=r.last_used_at,
                revoked_at=r.revoked_at,
            )
            for r in rows
        ]


def issue_api_token(deps: Deps, name: str, *, created_by: int | None, actor: str) -> str:
    """Create a token and note it in the audit log; the token is returned once, never stored."""
    return create_api_token(deps, name, created_by=created_by, actor=actor)


def revoke_api_token(deps: Deps, name: str, *, actor: str) -> None:
    """Revoke a token by name: from now on the admin API answers 401 to it."""
    with deps.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == name))
        if row is None:
            raise NotFoundError(f"no API token named {name!r}")
        if row.revoked_at is not None:
            raise ConflictError(f"API token {name!r} is already revoked")
        row.revoked_at = deps.clock()
        record_change(
            session, actor=actor, action="revoked", object_type="api_token", object_code=name
        )
