"""Segment memberships: set-based SQL when a rule changes, Python when one profile changes.

A rule segment stores its canonical rule; a static segment stores ``{"members": [external ids]}``
with ``is_static`` set, so a profile created later with a listed external id joins it too.
Whenever a profile's memberships change its ``version`` grows (an export then rechecks it).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    select,
    update,
)
from sqlalchemy.orm import Session

from backend.db.models import Profile, Segment, SegmentMember
from backend.domain.segment_rules import (
    Rule,
    dependents_of,
    evaluate,
    evaluation_order,
    referenced_segments,
    validate_rule,
)
from backend.services.driver_sql import driver_sql, placeholders
from backend.services.segment_sql import UnsupportedRuleError, rule_expression

log = logging.getLogger(__name__)
CHUNK = 1000


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE touched (a CursorResult's count, typed loosely by SQLAlchemy)."""
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class SegmentDef:
    id: int
    code: str
    rule: Rule | None  # None for a static segment
    members: frozenset[str] = frozenset()  # external ids of a static segment

    @property
    def depends_on(self) -> list[str]:
        return [] if self.rule is None else referenced_segments(self.rule)

    def matches(
        self, external_id: str | None, properties: Any, memberships: Collection[str]
    ) -> bool:
        if self.rule is None:
            return external_id is not None and external_id in self.members
        return evaluate(self.rule, properties or {}, memberships)


class MemberFacts(Protocol):
    """What a membership refresh reads of a profile, and the version it bumps."""

    id: int
    external_id: str | None
    properties: Any
    version: int
    updated_at: datetime | None


@dataclass(frozen=True)
class RefreshResult:
    added: int
    removed: int


def definition_of(row: Segment) -> SegmentDef:
    stored = row.rule or {}
    if row.is_static:
        return SegmentDef(row.id, row.code, None, frozenset(stored.get("members") or ()))
    return SegmentDef(row.id, row.code, validate_rule(stored or {"any": []}))


def load_definitions(session: Session) -> dict[str, SegmentDef]:
    return {row.code: definition_of(row) for row in session.scalars(select(Segment))}


def graph_of(defs: dict[str, SegmentDef]) -> dict[str, list[str]]:
    return {code: d.depends_on for code, d in defs.items()}


# -- one profile (or one batch of profiles) ----------------------------------------------------


def _memberships(session: Session, ids: list[int]) -> Sequence[tuple[int, int]]:
    """(profile id, segment id) rows of these profiles, by the driver's own statement: a bulk
    import asks for a chunk of 1,000 profiles many times a second (a third of the cost)."""
    session.flush()  # what Session.execute would do first
    conn, sql = driver_sql(session, _MEMBERSHIPS.format(ids=placeholders(len(ids))))
    return cast(Sequence[tuple[int, int]], conn.exec_driver_sql(sql, tuple(ids)).fetchall())


_MEMBERSHIPS = "SELECT profile_id, segment_id FROM segment_members WHERE profile_id IN ({ids})"


def refresh_profiles(
    session: Session,
    profiles: Sequence[MemberFacts] | Sequence[Profile],
    *,
    now: datetime,
    defs: dict[str, SegmentDef] | None = None,
) -> set[int]:
    """Recompute the memberships of these (flushed) profiles; returns the ids that changed.

    Changed profiles get ``version + 1`` and ``updated_at = now`` on the objects themselves.
    """
    if not profiles:
        return set()
    defs = load_definitions(session) if defs is None else defs
    by_id = {d.id: d for d in defs.values()}
    order = [defs[c] for c in evaluation_order(graph_of(defs))]
    ids = [p.id for p in profiles]
    current: dict[int, set[int]] = {pid: set() for pid in ids}
    for start in range(0, len(ids), CHUNK):
        for profile_id, segment_id in _memberships(session, ids[start : start + CHUNK]):
            current[profile_id].add(segment_id)
    additions: list[dict[str, int]] = []
    removals: list[tuple[int, int]] = []
    changed: set[int] = set()
    for profile in profiles:
        codes: set[str] = set()
        for definition in order:
            if definition.matches(profile.external_id, profile.properties, codes):
                codes.add(definition.code)
        wanted = {defs[c].id for c in codes}
        have = {sid for sid in current[profile.id] if sid in by_id}
        if wanted == have:
            continue
        additions.extend({"segment_id": s, "profile_id": profile.id} for s in wanted - have)
        removals.extend((s, profile.id) for s in have - wanted)
        profile.version = (profile.version or 1) + 1
        profile.updated_at = now
        changed.add(profile.id)
    table = cast(Table, SegmentMember.__table__)
    if additions:
        session.execute(insert(table), additions)
    if removals:
        session.execute(
            delete(table).where(
                table.c.segment_id == bindparam("b_segment"),
                table.c.profile_id == bindparam("b_profile"),
            ),
            [{"b_segment": s, "b_profile": p} for s, p in removals],
        )
    return changed


# -- one segment ---------------------------------------------------------------------------------


def _member_of(segment_id: int) -> ColumnElement[bool]:
    return exists().where(
        SegmentMember.segment_id == segment_id, SegmentMember.profile_id == Profile.id
    )


def _bump(now: datetime) -> dict[str, Any]:
    return {"version": Profile.version + 1, "updated_at": now}


def _refresh_sql(
    session: Session, seg: SegmentDef, match: ColumnElement[bool], now: datetime
) -> RefreshResult:
    """Four set-based statements: bump and add the newcomers, bump and remove the leavers."""
    joining = (match, not_(_member_of(seg.id)))
    leaving = (_member_of(seg.id), not_(match))
    added = rowcount(
        session.execute(
            update(Profile)
            .where(*joining)
            .values(**_bump(now))
            .execution_options(synchronize_session=False)
        )
    )
    session.execute(
        insert(SegmentMember).from_select(
            ["segment_id", "profile_id"],
            select(literal(seg.id), Profile.id).where(*joining),
        )
    )
    removed = rowcount(
        session.execute(
            update(Profile)
            .where(*leaving)
            .values(**_bump(now))
            .execution_options(synchronize_session=False)
        )
    )
    session.execute(
        delete(SegmentMember)
        .where(SegmentMember.segment_id == seg.id)
        .where(SegmentMember.profile_id.in_(select(Profile.id).where(not_(match))))
        .execution_options(synchronize_session=False)
    )
    return RefreshResult(added, removed)


def _refresh_python(
    session: Session, seg: SegmentDef, defs: dict[str, SegmentDef], now: datetime
) -> RefreshResult:
    """Stream profiles in id order, a chunk at a time (memory stays flat)."""
    by_id = {d.id: d.code for d in defs.values()}
    added = removed = 0
    last_id = 0
    while True:
        rows = session.execute(
            select(Profile.id, Profile.external_id, Profile.properties)
            .where(Profile.id > last_id)
            .order_by(Profile.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        ids = [r.id for r in rows]
        memberships: dict[int, set[str]] = {pid: set() for pid in ids}
        for pid, sid in session.execute(
            select(SegmentMember.profile_id, SegmentMember.segment_id).where(
                SegmentMember.profile_id.in_(ids)
            )
        ):
            if sid in by_id:
                memberships[pid].add(by_id[sid])
        joining = [
            r.id
            for r in rows
            if seg.code not in memberships[r.id]
            and seg.matches(r.external_id, r.properties, memberships[r.id])
        ]
        leaving = [
            r.id
            for r in rows
            if seg.code in memberships[r.id]
            and not seg.matches(r.external_id, r.properties, memberships[r.id])
        ]
        for changed in (joining, leaving):
            if changed:
                session.execute(
                    update(Profile)
                    .where(Profile.id.in_(changed))
                    .values(**_bump(now))
                    .execution_options(synchronize_session=False)
                )
        if joining:
            session.execute(
                insert(SegmentMember),
                [{"segment_id": seg.id, "profile_id": pid} for pid in joining],
            )
        if leaving:
            session.execute(
                delete(SegmentMember).where(
                    SegmentMember.segment_id == seg.id, SegmentMember.profile_id.in_(leaving)
                )
            )
        added, removed = added + len(joining), removed + len(leaving)
    return RefreshResult(added, removed)


def refresh_one_segment(
    session: Session,
    seg: SegmentDef,
    defs: dict[str, SegmentDef],
    *,
    now: datetime,
    force_python: bool = False,
) -> RefreshResult:
    """Bring one segment's member rows in line with its rule (not its dependents)."""
    session.flush()
    if seg.rule is None or force_python:
        return _refresh_python(session, seg, defs, now)
    ids = {code: d.id for code, d in defs.items()}
    try:
        match = rule_expression(seg.rule, session.get_bind().dialect.name, ids)
    except UnsupportedRuleError:
        return _refresh_python(session, seg, defs, now)
    return _refresh_sql(session, seg, match, now)


def refresh_segment(session: Session, code: str, *, now: datetime) -> dict[str, RefreshResult]:
    """Refresh a segment, then every segment whose rule depends on it, in dependency order."""
    defs = load_definitions(session)
    if code not in defs:
        return {}
    results = {code: refresh_one_segment(session, defs[code], defs, now=now)}
    for other in dependents_of(graph_of(defs), code):
        results[other] = refresh_one_segment(session, defs[other], defs, now=now)
    log.info(
        "segment refreshed",
        extra={"segment": code, "added": results[code].added, "removed": results[code].removed},
    )
    session.expire_all()
    return results


def forget_segment(session: Session, segment_id: int, *, now: datetime) -> int:
    """Before a segment is deleted: its members' versions grow (their segments list changes)."""
    return rowcount(
        session.execute(
            update(Profile)
            .where(_member_of(segment_id))
            .values(**_bump(now))
            .execution_options(synchronize_session=False)
        )
    )


def segment_codes_of(session: Session, profile_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each profile's segment codes, sorted (for reads and exports)."""
    ids = list(profile_ids)
    result: dict[int, list[str]] = {pid: [] for pid in ids}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(SegmentMember.profile_id, Segment.code)
            .join(Segment, Segment.id == SegmentMember.segment_id)
            .where(SegmentMember.profile_id.in_(ids[start : start + CHUNK]))
        )
        for profile_id, code in rows:
            result[profile_id].append(code)
    for codes in result.values():
        codes.sort()
    return result


def member_count(session: Session, code: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(SegmentMember)
            .join(Segment, Segment.id == SegmentMember.segment_id)
            .where(Segment.code == code)
        )
        or 0
    )
