"""Reads behind the admin pages that the configuration service does not cover."""

from __future__ import annotations

from dataclasses import dataclass

from backend.db.models import AdminUser
from backend.services.deps import Deps


@dataclass(frozen=True)
class AdminIdentity:
    id: int
    email: str


def load_active_admin(deps: Deps, user_id: int) -> AdminIdentity | None:
    """The admin behind a session, or None when the account is gone or deactivated."""
    with deps.session() as session:
        user = session.get(AdminUser, user_id)
        if user is None or not user.active:
            return None
        return AdminIdentity(id=user.id, email=user.email)
