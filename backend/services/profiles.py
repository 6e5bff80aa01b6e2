"""The profile store: a person's profile as the API reads it, their permissions, and the
version bump the preference center asks for. Writes live in ``profile_writes``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from backend.db.models import Preference, Profile, Subject, Subscription
from backend.domain.errors import ValidationError
from backend.domain.profiles import normalise_email
from backend.services.deps import Deps
from backend.services.profile_writes import ItemResult as ItemResult
from backend.services.profile_writes import upsert_batch as upsert_batch
from backend.services.profile_writes import upsert_profiles as upsert_profiles
from backend.services.segments import rowcount
from backend.services.segments import segment_codes_of as segment_codes_of

log = logging.getLogger(__name__)
CHUNK = 1000
MAX_LOOKUP = 50  # profiles a read by email may return


# -- reads --------------------------------------------------------------------------------------


def permissions_of(session: Session, profiles: Sequence[Profile]) -> dict[int, list[str]]:
    """``"<subscription>.<channel>"`` each person is subscribed to, from the preference center.

    A profile's subjects are the one with its external id and any with its email but no
    external id of their own.
    """
    result: dict[int, set[str]] = {p.id: set() for p in profiles}
    for start in range(0, len(profiles), CHUNK):
        chunk = profiles[start : start + CHUNK]
        external_ids = {p.external_id: p.id for p in chunk if p.external_id}
        emails: dict[str, list[int]] = {}
        for p in chunk:
            if p.email:
                emails.setdefault(p.email, []).append(p.id)
        conditions: list[ColumnElement[bool]] = []
        if external_ids:
            conditions.append(Subject.external_id.in_(list(external_ids)))
        if emails:
            conditions.append(Subject.email.in_(list(emails)) & Subject.external_id.is_(None))
        if not conditions:
            continue
        rows = session.execute(
            select(Subject.external_id, Subject.email, Subscription.code, Preference.channel)
            .join(Preference, Preference.subject_id == Subject.id)
            .join(Subscription, Subscription.id == Preference.subscription_id)
            .where(or_(*conditions), Preference.state == "subscribed")
        )
        for external_id, email, code, channel in rows:
            owners = [external_ids[external_id]] if external_id in external_ids else []
            if external_id is None and email:
                owners = emails.get(normalise_email(email), emails.get(email, []))
            for owner in owners:
                result[owner].add(f"{code}.{channel}")
    return {pid: sorted(values) for pid, values in result.items()}


def profile_view(profile: Profile, segments: list[str], permissions: list[str]) -> dict[str, Any]:
    identifiers: dict[str, Any] = {}
    if profile.external_id is not None:
        identifiers["external_id"] = profile.external_id
    if profile.email is not None:
        identifiers["email"] = profile.email
    identifiers.update(profile.identifiers or {})
    return {
        "id": profile.profile_key,
        "identifiers": identifiers,
        "properties": dict(profile.properties or {}),
        "segments": segments,
        "interactions": list(profile.interactions or []),
        "permissions": permissions,
        "version": profile.version,
        "created_at": profile.created_at.isoformat(),
        "updated_at": profile.updated_at.isoformat(),
    }


def find_profiles(
    deps: Deps, *, external_id: str | None = None, email: str | None = None
) -> list[dict[str, Any]]:
    """PRODUCT 1.5: the profiles named by external id or email, with segments and permissions."""
    if not external_id and not email:
        raise ValidationError("give external_id or email")
    query = select(Profile).order_by(Profile.id).limit(MAX_LOOKUP)
    if external_id:
        query = query.where(Profile.external_id == external_id.strip())
    if email:
        query = query.where(Profile.email == normalise_email(email))
    with deps.session() as session:
        rows = list(session.scalars(query))
        segments = segment_codes_of(session, [p.id for p in rows])
        permissions = permissions_of(session, rows)
        return [profile_view(p, segments[p.id], permissions[p.id]) for p in rows]


def bump_profiles_for_subject(
    session: Session, *, external_id: str | None, email: str | None, now: datetime
) -> int:
    """The preference center calls this when a person's preferences change (exports follow)."""
    conditions: list[ColumnElement[bool]] = []
    if external_id:
        conditions.append(Profile.external_id == external_id)
    if email:
        conditions.append((Profile.email == normalise_email(email)) & Profile.external_id.is_(None))
    if not conditions:
        return 0
    return rowcount(
        session.execute(
            update(Profile)
            .where(or_(*conditions))
            .values(version=Profile.version + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    )


def count_profiles(deps: Deps) -> int:
    with deps.session() as session:
        return session.scalar(select(func.count()).select_from(Profile)) or 0
