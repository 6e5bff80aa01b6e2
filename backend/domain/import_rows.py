"""Import goal rules: what to ask Braze for, how a row is keyed and hashed, how it merges.

A *row* is one Braze export object (braze_api.md §5/§6): standard fields at the top level,
custom attributes under ``custom_attributes``; empty fields are omitted by Braze.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from backend.domain.braze_identifiers import identifier_links
from backend.domain.errors import FieldError, ValidationError
from backend.domain.json_codec import loads
from backend.domain.merge import MERGERS, MISSING, STRATEGIES, Merger, same_value
from backend.domain.profiles import apply_properties

# Fields /users/export/segment accepts in fields_to_export (braze_api.md §5); any other mapped
# Braze name is a custom attribute.
EXPORT_FIELDS = frozenset(
    {
        "apps", "attributed_campaign", "attributed_source", "attributed_adgroup",
        "attributed_ad", "push_subscribe", "email_subscribe", "braze_id", "country",
        "created_at", "custom_attributes", "custom_events", "devices", "dob", "email",
        "external_id", "first_name", "gender", "home_city", "language", "last_coordinates",
        "last_name", "phone", "purchases", "push_tokens", "random_bucket", "time_zone",
        "total_revenue", "uninstalled_at", "user_aliases",
    }
)  # fmt: skip
PROFILE_COLUMNS = ("external_id", "email")  # identifiers with their own profile column
CUSTOM_ATTRIBUTES_MAX = 500  # custom_attributes_to_export (braze_api.md §6)


@dataclass(frozen=True)
class FieldRule:
    braze: str
    profile: str
    strategy: str


@dataclass(frozen=True)
class ImportPlan:
    """An import goal's definition, checked and ready to apply to rows."""

    identifiers: tuple[tuple[str, str], ...]  # (braze field, profile identifier), in order
    rules: tuple[FieldRule, ...]
    remaining_enabled: bool = False
    remaining_prefix: str = ""
    remaining_strategy: str = "set"
    allow_create: bool = False
    mapped_braze: frozenset[str] = field(default_factory=frozenset)
    fingerprint: bytes = b""
    # The rules ready for merge_row: (braze field, read at the top level, profile property,
    # strategy, merger), looked up once per plan rather than once per row.
    steps: tuple[tuple[str, bool, str, str, Merger], ...] = field(default=(), repr=False)

    @property
    def fields_to_export(self) -> list[str]:
        wanted = ["braze_id", "external_id"]
        wanted += [b for b, _ in self.identifiers]
        wanted += [r.braze for r in self.rules if r.braze in EXPORT_FIELDS]
        if self.remaining_enabled:
            wanted.append("custom_attributes")
        return list(dict.fromkeys(wanted))

    @property
    def custom_attributes_to_export(self) -> list[str]:
        if self.remaining_enabled:
            return []  # "custom_attributes" already exports every one (braze_api.md §6)
        return list(dict.fromkeys(r.braze for r in self.rules if r.braze not in EXPORT_FIELDS))


def plan_import(
    identifiers: Sequence[Mapping[str, Any]],
    mappings: Sequence[Mapping[str, Any]],
    remaining: Mapping[str, Any] | None,
    *,
    allow_create: bool,
) -> ImportPlan:
    """Validate a goal's definition (names and strategies) into an ImportPlan."""
    problems: list[FieldError] = []
    ids = identifier_links(identifiers, problems, noun="mapping")
    rules: list[FieldRule] = []
    for i, mapping in enumerate(mappings):
        rule = FieldRule(
            str(mapping.get("braze") or ""),
            str(mapping.get("profile") or ""),
            str(mapping.get("strategy") or "set"),
        )
        if not rule.braze or not rule.profile:
            problems.append(FieldError(f"mappings[{i}]", "braze and profile are required"))
        if rule.strategy not in STRATEGIES:
            problems.append(FieldError(f"mappings[{i}].strategy", f"one of {STRATEGIES}"))
        rules.append(rule)
    remaining = remaining or {}
    strategy = str(remaining.get("strategy") or "set")
    if remaining.get("enabled") and strategy not in STRATEGIES:
        problems.append(FieldError("remaining_fields.strategy", f"one of {STRATEGIES}"))
    plan = ImportPlan(
        identifiers=tuple(ids),
        rules=tuple(rules),
        remaining_enabled=bool(remaining.get("enabled")),
        remaining_prefix=str(remaining.get("prefix") or ""),
        remaining_strategy=strategy,
        allow_create=allow_create,
        mapped_braze=frozenset(r.braze for r in rules),
    )
    if len(plan.custom_attributes_to_export) > CUSTOM_ATTRIBUTES_MAX:
        problems.append(
            FieldError("mappings", f"at most {CUSTOM_ATTRIBUTES_MAX} custom attributes")
        )
    if problems:
        raise ValidationError(problems)
    definition = [ids, [vars(r) for r in rules], dict(remaining), allow_create]
    fingerprint = hashlib.blake2b(
        json.dumps(definition, sort_keys=True, default=str).encode(), digest_size=16
    ).digest()
    steps = tuple(
        (r.braze, r.braze != "custom_attributes", r.profile, r.strategy, MERGERS[r.strategy])
        for r in rules
    )
    return replace(plan, fingerprint=fingerprint, steps=steps)


def braze_value(row: Mapping[str, Any], name: str) -> Any:
    """A field of an export object: a top-level field, else a custom attribute, else MISSING."""
    if name != "custom_attributes" and name in row:
        return row[name]
    custom = row.get("custom_attributes")
    if isinstance(custom, Mapping) and name in custom:
        return custom[name]
    return MISSING


def row_key(row: Mapping[str, Any]) -> str | None:
    """The Braze user a row belongs to, for its ImportRowState (braze_id is stable)."""
    for prefix, name in (("b:", "braze_id"), ("x:", "external_id"), ("e:", "email")):
        value = row.get(name)
        if isinstance(value, str) and value:
            return prefix + value
    return None


def row_hash(plan: ImportPlan, raw_line: bytes) -> str:
    """Content hash of a row as Braze wrote it, salted by the goal's definition.

    Hashing the raw line costs no re-serialisation; if Braze ever reorders keys the row merely
    looks changed once, and merging it again is harmless (every strategy is idempotent).
    """
    digest = hashlib.blake2b(plan.fingerprint, digest_size=16)
    digest.update(raw_line.strip())
    return digest.hexdigest()


@dataclass
class ParsedRows:
    """A chunk of export lines decoded, keyed and hashed: all that comes before the database."""

    rows: list[tuple[str, str, str, dict[str, Any]]]  # (row ref, Braze user key, row hash, row)
    counts: dict[str, int]  # checked, and failed or skipped lines
    errors: list[dict[str, Any]]  # one per failed or skipped line, in line order


def parse_rows(plan: ImportPlan, lines: Sequence[tuple[str, bytes]]) -> ParsedRows:
    """Decode each (row ref, line); a line that is no JSON fails, one that names no user skips."""
    parsed = ParsedRows([], {"checked": len(lines)}, [])
    for ref, line in lines:
        try:
            row = loads(line)
        except ValueError:
            parsed.counts["failed"] = parsed.counts.get("failed", 0) + 1
            parsed.errors.append({"row_ref": ref, "message": "line is not valid JSON"})
            continue
        key = row_key(row) if isinstance(row, dict) else None
        if key is None:
            parsed.counts["skipped"] = parsed.counts.get("skipped", 0) + 1
            parsed.errors.append({"row_ref": ref, "message": "row names no Braze user"})
            continue
        parsed.rows.append((ref, key, row_hash(plan, line), row))
    return parsed


def row_identifiers(plan: ImportPlan, row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(profile identifier, value) pairs the row offers, in the goal's order."""
    out: list[tuple[str, str]] = []
    for braze, profile in plan.identifiers:
        value = row.get(braze)
        if isinstance(value, str) and value:
            out.append((profile, value.strip().lower() if braze == "email" else value))
    return out


@dataclass
class RowMerge:
    """The outcome of merging one row into one profile's properties."""

    properties: dict[str, Any]
    sum_memory: dict[str, Any]
    changed: dict[str, tuple[Any, Any]]  # property -> (before, after); MISSING = absent

    @property
    def profile_changed(self) -> bool:
        return bool(self.changed)


def _targets(plan: ImportPlan, row: Mapping[str, Any]) -> list[tuple[str, str, Merger, Any]]:
    """(profile property, strategy, merger, Braze value or MISSING) for each rule, then each
    remaining custom attribute."""
    custom = row.get("custom_attributes")
    if type(custom) is not dict:
        custom = {}
    out = [
        (target, strategy, merger,
         row[braze] if top and braze in row else custom.get(braze, MISSING))
        for braze, top, target, strategy, merger in plan.steps
    ]  # fmt: skip
    if plan.remaining_enabled and custom:
        prefix, strategy, mapped = plan.remaining_prefix, plan.remaining_strategy, plan.mapped_braze
        merger = MERGERS[strategy]
        out.extend(
            (prefix + name, strategy, merger, value)
            for name, value in custom.items()
            if name not in mapped
        )
    return out


def merge_row(
    plan: ImportPlan,
    row: Mapping[str, Any],
    properties: Mapping[str, Any],
    sum_memory: Mapping[str, Any],
) -> RowMerge:
    """Merge one row into a profile's properties with each mapping's strategy.

    Whether the profile changed is decided by ``domain.profiles.apply_properties``, the same
    rule every other profile write uses (a merged MISSING is a removal, i.e. a null change).
    """
    current = properties
    memory: Mapping[str, Any] = sum_memory
    wanted: dict[str, Any] = {}
    merged_twice = False  # two mappings onto one property: compare with the original at the end
    for target, strategy, merger, incoming in _targets(plan, row):
        if incoming is MISSING and strategy != "clear":
            continue  # every other strategy leaves P (and the sum memory) alone
        if target in wanted:
            before, merged_twice = wanted[target], True
        else:
            before = current.get(target, MISSING)
        remembered = memory.get(target, MISSING)
        after, new_memory = merger(before, incoming, remembered)
        # Only ``sum`` returns another memory than it was given.
        if new_memory is not remembered and new_memory is not MISSING and strategy == "sum":
            memory = {**memory, target: new_memory}
        if not same_value(before, after):
            wanted[target] = after
    if not wanted:
        return RowMerge(dict(current), dict(memory), {})
    changed = {
        k: (current.get(k, MISSING), v) for k, v in wanted.items()
        if not merged_twice or not same_value(current.get(k, MISSING), v)
    }  # fmt: skip
    merged = (
        apply_properties(current, {k: None if v is MISSING else v for k, (_, v) in changed.items()})
        if changed
        else None
    )
    if merged is None:
        return RowMerge(dict(current), dict(memory), {})
    return RowMerge(merged, dict(memory), changed)
