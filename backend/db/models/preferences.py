"""Visitors (subjects), their current preferences, the consent ledger and the outbox to Braze.

Personal data (external id, email) lives only in ``subjects`` and ``outbox_entries``; the ledger
names a subject by its pseudonymous ``subject_key``, so erasing a person removes their personal data
without breaking the ledger's hash chain.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.models.base import Base, JSONType, UTCDateTime, utcnow


class Subject(Base):
    """A person as Optline knows them: external id and/or email, behind a pseudonymous key."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(36), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    # Braze user alias (alias_label "optline_email") for people known only by email.
    braze_alias: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by unsubscribe-from-all, cleared by the next opt-in to anything.
    unsubscribed_all_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Global Braze states Optline last set: {"email_subscribe": "unsubscribed", ...}.
    global_states: Mapped[dict[str, str] | None] = mapped_column(JSONType)


class Preference(Base):
    """The current state of one subject for one topic on one channel."""

    __tablename__ = "preferences"
    __table_args__ = (UniqueConstraint("subject_id", "subscription_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))  # subscribed | unsubscribed
    source: Mapped[str] = mapped_column(String(20))
    # When the person (or Braze) made this choice; the most recent explicit action wins.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sync_status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|synced|failed
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ledger_entry_id: Mapped[int | None] = mapped_column(Integer)


class LedgerEntry(Base):
    """One consent record (ISO/IEC TS 27560 in spirit); append-only and hash-chained."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    subject_key: Mapped[str] = mapped_column(String(36), index=True)
    subscription: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(
        String(20)
    )  # widget|hosted|one_click|admin|api|braze|import
    proof: Mapped[str] = mapped_column(String(100))  # token:<kid> | email_code | hmac_link | …
    property: Mapped[str | None] = mapped_column(String(64))
    origin: Mapped[str | None] = mapped_column(String(300))
    language: Mapped[str | None] = mapped_column(String(8))
    text_version: Mapped[int | None] = mapped_column(Integer)
    user_agent: Mapped[str | None] = mapped_column(String(400))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LedgerHead(Base):
    """The single row every append locks, so the chain has exactly one next link."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_entry_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class OutboxEntry(Base):
    """A change waiting to reach Braze; written in the same transaction as the preference."""

    __tablename__ = "outbox_entries"
    __table_args__ = (
        Index("ix_outbox_due", "connection_id", "status", "next_attempt_at"),
        Index("ix_outbox_coalesce", "connection_id", "kind", "target", "identifier"),
        Index("ix_outbox_status", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("braze_connections.id", ondelete="CASCADE")
    )
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    preference_id: Mapped[int | None] = mapped_column(
        ForeignKey("preferences.id", ondelete="SET NULL")
    )
    # subscription_group | email_subscribe | push_subscribe | create_user | alias | delete | …
    kind: Mapped[str] = mapped_column(String(30))
    # The subscription group id for subscription_group changes, "" otherwise.
    target: Mapped[str] = mapped_column(String(100), default="")
    identifier_type: Mapped[str] = mapped_column(String(20))  # external_id | email | alias
    identifier: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(20), default="")
    payload: Mapped[dict[str, object] | None] = mapped_column(JSONType)
    # pending | in_flight | sent | superseded | dead
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when a send of this key timed out unanswered: Braze may still apply that request, so
    # no state of the key goes out before then (it would be overtaken by the straggler).
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class EmailCode(Base):
    """A one-time code proving an email address (the fallback when a site mints no token)."""

    __tablename__ = "email_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"))
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MailMessage(Base):
    """Mail Optline sent or, in development without SMTP, only shows in the admin outbox."""

    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="shown")  # shown | sent | failed
    purpose: Mapped[str] = mapped_column(String(30), default="")
    meta: Mapped[dict[str, object] | None] = mapped_column(JSONType)
