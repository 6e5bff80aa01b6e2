"""The audit log of admin changes: who changed what, naming fields but never secret values."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.db.models import AuditEntry


def record_change(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_code: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an audit entry in the caller's transaction, so it exists exactly when the change does."""
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            object_type=object_type,
            object_code=object_code,
            details=details or {},
        )
    )
