"""Requests a sandbox Braze connection would have sent, shown in the admin instead of sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.models.base import Base, JSONType, UTCDateTime, utcnow


class BrazeRequestRecord(Base):
    __tablename__ = "braze_request_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("braze_connections.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(200))
    query: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    body: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
