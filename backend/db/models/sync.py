"""Profile sync with Braze: connections, import and export goals, runs and their state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.models.base import Base, JSONType, UTCDateTime, utcnow


class SyncConnection(Base):
    __tablename__ = "sync_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    braze_connection_id: Mapped[int] = mapped_column(ForeignKey("braze_connections.id"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # {"times_per_day": 4} | {"days": ["mon"], "at": "06:30"} | {"day_of_month": 1, "at": "02:00"}
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # {"emails": [...], "on": ["failure", "success"], "webhook": url | None}
    notify: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ImportGoal(Base):
    __tablename__ = "import_goals"
    __table_args__ = (UniqueConstraint("sync_connection_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sync_connection_id: Mapped[int] = mapped_column(
        ForeignKey("sync_connections.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(64))
    braze_segment_id: Mapped[str] = mapped_column(String(100))
    identifiers: Mapped[list[dict[str, str]]] = mapped_column(JSONType)
    allow_create: Mapped[bool] = mapped_column(Boolean, default=False)
    mappings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    remaining_fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)


class ExportGoal(Base):
    __tablename__ = "export_goals"
    __table_args__ = (UniqueConstraint("sync_connection_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sync_connection_id: Mapped[int] = mapped_column(
        ForeignKey("sync_connections.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(64))
    segment_code: Mapped[str] = mapped_column(String(64))
    identifiers: Mapped[list[dict[str, str]]] = mapped_column(JSONType)
    create_if_missing: Mapped[bool] = mapped_column(Boolean, default=False)
    mappings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # Where changes go: {"braze": true, "s3_cdi": false}
    destinations: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Changes whenever the goal's definition changes, so exported state from before is rechecked.
    definition_hash: Mapped[str] = mapped_column(String(64), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


# A run holds its goal while queued or running, and while a cancellation is being acknowledged.
ACTIVE_RUN = "status IN ('queued', 'running') OR (status = 'cancelled' AND finished_at IS NULL)"


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (
        # Never two runs of one goal at once, enforced by the database (migration 0004).
        Index(
            "uq_sync_runs_active_goal",
            "goal_kind",
            "goal_id",
            unique=True,
            sqlite_where=text(ACTIVE_RUN),
            postgresql_where=text(ACTIVE_RUN),
        ),
        Index("ix_sync_runs_goal", "goal_kind", "goal_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sync_connection_id: Mapped[int] = mapped_column(
        ForeignKey("sync_connections.id", ondelete="CASCADE"), index=True
    )
    goal_kind: Mapped[str] = mapped_column(String(10))  # import | export
    goal_id: Mapped[int] = mapped_column(Integer)
    goal_code: Mapped[str] = mapped_column(String(64))
    # queued | running | succeeded | failed | cancelled
    status: Mapped[str] = mapped_column(String(12), default="queued", index=True)
    trigger: Mapped[str] = mapped_column(String(12), default="manual")  # schedule|manual|cli|api
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Where a resumed run picks up (import: files done; export: last profile id acknowledged).
    checkpoint: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Dry-run preview: sample diffs and the requests that would be sent.
    preview: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncRunError(Base):
    """One row a run could not apply, mapped back to the profile and field where known."""

    __tablename__ = "sync_run_errors"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"), index=True)
    row_ref: Mapped[str] = mapped_column(String(300))
    profile_id: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)


class ImportRowState(Base):
    """Per Braze user of an import goal: the content hash last merged and the values ``sum`` saw."""

    __tablename__ = "import_row_states"

    goal_id: Mapped[int] = mapped_column(
        ForeignKey("import_goals.id", ondelete="CASCADE"), primary_key=True
    )
    braze_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    row_hash: Mapped[str] = mapped_column(String(32))
    sum_values: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ExportProfileState(Base):
    """What Braze acknowledged for one profile of an export goal: a hash per sent field."""

    __tablename__ = "export_profile_states"

    goal_id: Mapped[int] = mapped_column(
        ForeignKey("export_goals.id", ondelete="CASCADE"), primary_key=True
    )
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True
    )
    profile_version: Mapped[int] = mapped_column(Integer)
    definition_hash: Mapped[str] = mapped_column(String(64))
    field_hashes: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
