"""Rights requests (access, erasure), their exported documents, suppression records left by
erasures, the per-installation secrets that key them, and the reconciliation watermark per Braze
connection.

Personal data here is short-lived: a request names its person (``external_id``/``email``) only
until it finishes; afterwards it keeps the pseudonymous ``subject_key`` and a keyed hash of the
requester, and an erasure leaves nothing but keyed hashes in ``suppressions``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.models.base import Base, JSONType, UTCDateTime, utcnow


class RightsRequest(Base):
    """A visitor's or an admin's request to see (access) or delete (erasure) a person's data."""

    __tablename__ = "rights_requests"
    __table_args__ = (Index("ix_rights_requests_status", "status", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the APIs show: random and unguessable, unlike the integer key.
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(10))  # access | erasure
    source: Mapped[str] = mapped_column(String(10))  # widget | admin | api
    status: Mapped[str] = mapped_column(String(12), default="received")
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="SET NULL"), index=True
    )
    subject_key: Mapped[str | None] = mapped_column(String(36), index=True)
    # Who may read the request's status: a keyed hash of the requester's identifier.
    requester_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # The person, while the request is open; cleared when it finishes.
    external_id: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(254))
    property: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    # Braze connections already done (erasure), so a retried job does not repeat them.
    progress: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    download_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The token itself, encrypted, so the status reads can show the link again.
    download_token_encrypted: Mapped[str | None] = mapped_column(Text)
    download_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_location: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RightsExport(Base):
    """The JSON document of a completed access request, until its link expires."""

    __tablename__ = "rights_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("rights_requests.id", ondelete="CASCADE"), unique=True
    )
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(Base):
    """What an erasure leaves: a keyed hash of an identifier, so imports do not bring it back."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("kind", "digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # external_id | email
    digest: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(30), default="erasure")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InstallationSecret(Base):
    """Random per-installation secrets (e.g. the suppression salt), encrypted at rest."""

    __tablename__ = "installation_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReconcileState(Base):
    """Per Braze connection: up to when Braze-side changes were pulled, and the last report."""

    __tablename__ = "reconcile_states"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("braze_connections.id", ondelete="CASCADE"), primary_key=True
    )
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_report: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    last_error: Mapped[str | None] = mapped_column(Text)
