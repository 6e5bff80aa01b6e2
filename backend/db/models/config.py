"""Configuration objects: Braze connections, properties (sites), subscriptions and their channels.

Secrets are stored only as ciphertext (columns ending in ``_encrypted``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db.models.base import Base, JSONType, UTCDateTime, utcnow


class BrazeConnection(Base):
    __tablename__ = "braze_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    rest_endpoint: Mapped[str] = mapped_column(String(300))
    api_key_encrypted: Mapped[str] = mapped_column(Text)
    identity: Mapped[str] = mapped_column(String(20), default="external_id")
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False)
    create_missing_users: Mapped[bool] = mapped_column(Boolean, default=True)
    # Share of the workspace's Braze request budget Optline may use (0 < share <= 1).
    budget_share: Mapped[float] = mapped_column(default=0.8)
    s3_bucket: Mapped[str | None] = mapped_column(String(200))
    s3_prefix: Mapped[str] = mapped_column(String(300), default="")
    s3_region: Mapped[str | None] = mapped_column(String(50))
    s3_endpoint_url: Mapped[str | None] = mapped_column(String(300))
    s3_access_key_id: Mapped[str | None] = mapped_column(String(200))
    s3_secret_access_key_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Property(Base):
    """A site that embeds the tag."""

    __tablename__ = "properties"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    allowed_origins: Mapped[list[str]] = mapped_column(JSONType, default=list)
    identity_capture: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    email_verification: Mapped[bool] = mapped_column(Boolean, default=False)
    languages: Mapped[list[str]] = mapped_column(JSONType, default=lambda: ["en"])
    # Subscription codes shown by this property; None means every subscription.
    subscriptions: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    theme: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    token_max_ttl: Mapped[int] = mapped_column(Integer, default=3600)
    # Bumped on every change so the tag's ETag and caches follow the configuration.
    config_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    signing_keys: Mapped[list[SigningKey]] = relationship(
        back_populates="property", cascade="all, delete-orphan", order_by="SigningKey.kid"
    )


class SigningKey(Base):
    """A key that verifies visitor tokens: an HS256 secret (encrypted) or a public key (PEM)."""

    __tablename__ = "signing_keys"
    __table_args__ = (UniqueConstraint("property_id", "kid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"))
    kid: Mapped[str] = mapped_column(String(100))
    algorithm: Mapped[str] = mapped_column(String(10), default="HS256")
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    public_key: Mapped[str | None] = mapped_column(Text)

    property: Mapped[Property] = relationship(back_populates="signing_keys")


class Subscription(Base):
    """A topic a visitor can subscribe to, on one or more channels."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[dict[str, str]] = mapped_column(JSONType)
    description: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # The notice version: bumped whenever the texts change, recorded in each ledger entry.
    text_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    channels: Mapped[list[SubscriptionChannel]] = relationship(
        back_populates="subscription",
        cascade="all, delete-orphan",
        order_by="SubscriptionChannel.position",
    )


class SubscriptionChannel(Base):
    """One channel of a topic, bound to a Braze subscription group of a connection."""

    __tablename__ = "subscription_channels"
    __table_args__ = (UniqueConstraint("subscription_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    connection_id: Mapped[int] = mapped_column(ForeignKey("braze_connections.id"))
    subscription_group_id: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)

    subscription: Mapped[Subscription] = relationship(back_populates="channels")
    connection: Mapped[BrazeConnection] = relationship()
