"""Segment operations for the admin API and pages: refresh on demand, members at a glance."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backend.db.models import Profile, Segment, SegmentMember
from backend.domain.errors import NotFoundError
from backend.services.deps import Deps
from backend.services.segments import member_count, refresh_segment


def _segment(deps: Deps, code: str) -> None:
    with deps.session() as session:
        if session.scalar(select(Segment.id).where(Segment.code == code)) is None:
            raise NotFoundError(f"segment {code!r} does not exist")


def refresh(deps: Deps, code: str) -> dict[str, Any]:
    """Recompute the segment and its dependents; says how many profiles joined and left each."""
    _segment(deps, code)
    with deps.session() as session:
        results = refresh_segment(session, code, now=deps.clock())
    return {
        "segment": code,
        "refreshed": [
            {"segment": c, "added": r.added, "removed": r.removed} for c, r in results.items()
        ],
    }


def members(deps: Deps, code: str, *, limit: int = 100) -> dict[str, Any]:
    """The member count and the first ``limit`` members (by profile id)."""
    _segment(deps, code)
    with deps.session() as session:
        rows = session.execute(
            select(Profile.profile_key, Profile.external_id)
            .join(SegmentMember, SegmentMember.profile_id == Profile.id)
            .join(Segment, Segment.id == SegmentMember.segment_id)
            .where(Segment.code == code)
            .order_by(Profile.id)
            .limit(limit)
        ).all()
        total = member_count(session, code)
    return {
        "segment": code,
        "count": total,
        "members": [{"id": key, "external_id": ext} for key, ext in rows],
    }
