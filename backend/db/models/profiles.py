"""The profile store: profiles, segments and segment memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.models.base import Base, JSONType, UTCDateTime, utcnow


class Profile(Base):
    """A person's profile: identifiers, properties and what they saw and chose.

    ``version`` grows on every change that an export could send (properties, identifiers,
    segment memberships, interactions, permissions), so an export finds candidates by comparing
    it with the version it last acknowledged instead of reading every profile.
    """

    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_key: Mapped[str] = mapped_column(String(36), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    # Identifiers other than external_id and email (e.g. braze_id, phone).
    identifiers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Names of the widget interactions the person viewed or made.
    interactions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Segment(Base):
    """A named rule over properties and memberships, or a static list of profiles."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    is_static: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SegmentMember(Base):
    """Materialised membership, refreshed when a profile or a rule changes."""

    __tablename__ = "segment_members"

    segment_id: Mapped[int] = mapped_column(
        ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True
    )
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True, index=True
    )
