"""One chunk of import rows against the database: bulk reads, merges, bulk writes.

A chunk (≈1,000 rows of one export file) costs a handful of statements whatever its size: one
read of the row states, one read of the matching profiles per identifier kind, one bulk insert
of new profiles, one bulk update of changed ones, one bulk upsert of row states. The caller
commits the chunk together with the run's counts and checkpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from backend.db.models import ImportRowState, Profile
from backend.domain.import_rows import (
    PROFILE_COLUMNS,
    ImportPlan,
    ParsedRows,
    merge_row,
    parse_rows,
    row_identifiers,
)
from backend.domain.json_codec import dumps
from backend.domain.merge import MISSING
from backend.services.driver_sql import driver_sql, placeholders
from backend.services.segments import SegmentDef, load_definitions, refresh_profiles
from backend.services.suppressions import SuppressionCheck
from backend.services.sync_common import PREVIEW_SAMPLES, as_json

PROFILES = Profile.__table__
STATES = ImportRowState.__table__


# check(external_id, email) -> True when an erasure left a suppression record for either.
Suppressed = Callable[[str | None, str | None], bool]


def _is_suppressed(
    check: Suppressed | None,
    row: dict[str, Any],
    ids: list[tuple[str, str]],
    profile: dict[str, Any] | None,
) -> bool:
    """Erased people are never re-imported (``backend.services.rights.suppression_check``):
    asked with the row's identifiers and those of the profile it matched, before any write."""
    if check is None:
        return False
    named = dict(ids)
    pairs = {
        (named.get("external_id"), named.get("email")),
        (row.get("external_id"), row.get("email")),
    }
    if profile is not None:
        pairs.add((profile.get("external_id"), profile.get("email")))
    return any(
        check(x if isinstance(x, str) else None, e if isinstance(e, str) else None)
        for x, e in pairs
    )


@dataclass
class ChunkOutcome:
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    changed_profile_ids: list[int] = field(default_factory=list)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


def _shown(value: Any) -> dict[str, Any]:
    return {} if value is MISSING else {"value": value}


# Table and column names come from our models and the goal's validated identifier names;
# every value is a bound parameter.
LOOKUP = (
    "SELECT id, external_id, email, identifiers, properties, version FROM profiles "
    "WHERE {column} IN ({values})"
)
STATE_LOOKUP = (
    "SELECT braze_key, row_hash, sum_values FROM import_row_states "
    "WHERE goal_id = ? AND braze_key IN ({values})"
)
UPDATE_PROFILES = "UPDATE profiles SET properties = ?j, version = ?, updated_at = ? WHERE id = ?"
UPSERT_STATES = (
    "INSERT INTO import_row_states (goal_id, braze_key, row_hash, sum_values) "
    "VALUES (?, ?, ?, ?j) ON CONFLICT (goal_id, braze_key) DO UPDATE SET "
    "row_hash = excluded.row_hash, sum_values = excluded.sum_values"
)
assert Profile.__tablename__ == "profiles" and ImportRowState.__tablename__ == "import_row_states"
FIELDS = ("id", "external_id", "email", "identifiers", "properties", "version")


def _lookup(session: Session, name: str, values: list[str]) -> list[dict[str, Any]]:
    """Profiles whose identifier ``name`` is one of ``values``."""
    if name not in PROFILE_COLUMNS:  # other identifiers live in the JSON column: not indexed
        columns = [PROFILES.c[f] for f in FIELDS]
        condition = PROFILES.c.identifiers[name].as_string().in_(values)
        query = select(*columns).where(condition).with_for_update()
        return [dict(r._mapping) for r in session.execute(query)]
    statement = LOOKUP.format(column=name, values=placeholders(len(values)))
    if session.get_bind().dialect.name == "postgresql":
        statement += " FOR UPDATE"  # SQLite's writers are serialised anyway
    conn, sql = driver_sql(session, statement)
    return [
        {"id": id_, "external_id": external_id, "email": email,
         "identifiers": as_json(identifiers) or {}, "properties": as_json(properties) or {},
         "version": version}
        for id_, external_id, email, identifiers, properties, version
        in conn.exec_driver_sql(sql, tuple(values)).fetchall()
    ]  # fmt: skip


def _identifier(profile: dict[str, Any], name: str) -> Any:
    return profile.get(name) if name in PROFILE_COLUMNS else profile["identifiers"].get(name)


class ChunkImporter:
    """Applies chunks of one import goal's rows; keeps nothing between chunks but settings."""

    def __init__(
        self,
        session: Session,
        goal_id: int,
        plan: ImportPlan,
        now: datetime,
        dry_run: bool,
        suppressed: Suppressed | None = None,
    ) -> None:
        self.session, self.goal_id, self.plan = session, goal_id, plan
        self.now, self.dry_run, self.suppressed = now, dry_run, suppressed
        self.samples_left = PREVIEW_SAMPLES
        self.defs: dict[str, SegmentDef] | None = None if dry_run else load_definitions(session)

    def process(self, rows: list[tuple[str, bytes]]) -> ChunkOutcome:
        return self.apply(parse_rows(self.plan, rows))

    def apply(self, chunk: ParsedRows) -> ChunkOutcome:
        """Merge a parsed chunk (``parse_rows``: the import parses on a read-ahead thread)."""
        out = ChunkOutcome(counts=dict(chunk.counts), errors=list(chunk.errors))
        parsed = chunk.rows
        states = self._states([key for _, key, _, _ in parsed])
        pending = []
        for item in parsed:
            state = states.get(item[1])
            if state is not None and state["row_hash"] == item[2]:
                out.add("unchanged")
            else:
                pending.append(item)
        if pending:
            self._merge(pending, states, out)
        return out

    def _states(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        if not keys:
            return {}
        conn, sql = driver_sql(self.session, STATE_LOOKUP.format(values=placeholders(len(keys))))
        rows = conn.exec_driver_sql(sql, (self.goal_id, *keys))
        return {
            key: {"row_hash": digest, "sum_values": as_json(memory) or {}}
            for key, digest, memory in rows
        }

    def _index(self, offered: list[list[tuple[str, str]]]) -> dict[str, dict[str, Any]]:
        """identifier name -> value -> profile, for every identifier the rows offer."""
        wanted: dict[str, set[str]] = {}
        for ids in offered:
            for name, value in ids:
                wanted.setdefault(name, set()).add(value)
        index: dict[str, dict[str, Any]] = {name: {} for name in wanted}
        by_id: dict[int, dict[str, Any]] = {}
        for name, values in wanted.items():
            for profile in _lookup(self.session, name, sorted(values)):
                profile = by_id.setdefault(profile["id"], profile)
                index[name].setdefault(str(_identifier(profile, name)), profile)
        return index

    def _merge(
        self,
        pending: list[tuple[str, str, str, dict[str, Any]]],
        states: dict[str, dict[str, Any]],
        out: ChunkOutcome,
    ) -> None:
        offered = [row_identifiers(self.plan, row) for _, _, _, row in pending]
        index = self._index(offered)
        check = self.suppressed
        if isinstance(check, SuppressionCheck) and not check.holds_any():
            check = None  # nobody was ever erased: no row needs asking
        created: list[dict[str, Any]] = []
        changed: dict[int, dict[str, Any]] = {}
        new_states: dict[str, dict[str, Any]] = {}
        counts = dict.fromkeys(("skipped", "created", "updated", "unchanged"), 0)
        for (ref, key, digest, row), ids in zip(pending, offered, strict=True):
            profile = next((index[n][v] for n, v in ids if v in index[n]), None)
            if _is_suppressed(check, row, ids, profile):
                counts["skipped"] += 1
                continue
            is_new = profile is None
            if profile is None:
                if not (self.plan.allow_create and ids):
                    counts["skipped"] += 1
                    continue
                profile = self._new_profile(ids)
                created.append(profile)
                for name, value in ids:
                    index[name].setdefault(value, profile)
            state = states.get(key)
            memory = state["sum_values"] if state else {}
            merged = merge_row(self.plan, row, profile["properties"], memory)
            profile["properties"] = merged.properties
            states[key] = new_states[key] = {
                "goal_id": self.goal_id, "braze_key": key, "row_hash": digest,
                "sum_values": merged.sum_memory,
            }  # fmt: skip
            if is_new:
                counts["created"] += 1
            elif not merged.changed:
                counts["unchanged"] += 1
                continue
            elif profile.get("id") is None:  # created earlier in this chunk: inserted as merged
                counts["updated"] += 1
            else:
                counts["updated"] += 1
                changed[profile["id"]] = profile
            if self.samples_left > 0:
                self.samples_left -= 1
                out.samples.append(self._sample(ref, key, profile, merged.changed, is_new))
        for name, n in counts.items():
            out.add(name, n)
        if not self.dry_run:
            self._write(created, list(changed.values()), list(new_states.values()))
        out.changed_profile_ids.extend(changed)

    def _new_profile(self, ids: list[tuple[str, str]]) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "profile_key": str(uuid.uuid4()), "external_id": None, "email": None,
            "identifiers": {}, "properties": {}, "version": 1,
        }  # fmt: skip
        for name, value in ids:
            if name in PROFILE_COLUMNS:
                profile[name] = profile[name] or value
            else:
                profile["identifiers"].setdefault(name, value)
        return profile

    def _sample(
        self, ref: str, key: str, profile: dict[str, Any], changes: dict[str, Any], is_new: bool
    ) -> dict[str, Any]:
        return {
            "row": ref,
            "braze_user": key,
            "profile": profile.get("external_id") or profile.get("email") or profile.get("id"),
            "created": is_new,
            "changes": {
                name: {"before": _shown(before), "after": _shown(after)}
                for name, (before, after) in changes.items()
            },
        }

    def _write(
        self,
        created: list[dict[str, Any]],
        changed: list[dict[str, Any]],
        states: list[dict[str, Any]],
    ) -> None:
        if created:
            rows = [
                {**p, "interactions": [], "created_at": self.now, "updated_at": self.now}
                for p in created
            ]
            ids = self.session.scalars(
                insert(Profile).returning(Profile.id, sort_by_parameter_order=True), rows
            ).all()
            for profile, new_id in zip(created, ids, strict=True):
                profile["id"] = new_id
        for profile in changed:
            # The version grows once per chunk that really changed the profile (RowMerge).
            profile["version"] += 1
        touched = [_Member(p) for p in created + changed]
        if touched:
            # Memberships follow the new properties; a membership change bumps the version too.
            refresh_profiles(
                self.session, cast(list[Profile], touched), now=self.now, defs=self.defs
            )
        changed_ids = {p["id"] for p in changed}
        moved = [m for m in touched if m.id in changed_ids or m.version != 1]
        if moved:
            conn, sql = driver_sql(self.session, UPDATE_PROFILES)
            column_type = PROFILES.c.updated_at.type.dialect_impl(conn.dialect)
            process = column_type.bind_processor(conn.dialect)  # stored as the ORM stores it
            now = process(self.now) if process else self.now
            conn.exec_driver_sql(sql, [(_dumps(m.properties), m.version, now, m.id) for m in moved])
        if states:
            conn, sql = driver_sql(self.session, UPSERT_STATES)
            conn.exec_driver_sql(
                sql,
                [(s["goal_id"], s["braze_key"], s["row_hash"], _dumps(s["sum_values"]))
                 for s in states],
            )  # fmt: skip


def _dumps(value: Any) -> str:
    return "{}" if not value else dumps(value)


class _Member:
    """The attributes ``segments.refresh_profiles`` reads and sets, over a profile dict."""

    def __init__(self, profile: dict[str, Any]) -> None:
        self.id: int = profile["id"]
        self.external_id: str | None = profile.get("external_id")
        self.properties: dict[str, Any] = profile["properties"]
        self.version: int = profile["version"]
        self.updated_at: datetime | None = None
