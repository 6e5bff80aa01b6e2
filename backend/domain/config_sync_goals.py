"""Import and export goals of a sync connection: their specs and parsers (paths relative)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from backend.domain.braze_identifiers import BRAZE_IDENTIFIERS
from backend.domain.config_schema import Problems, Reader, describe
from backend.domain.config_specs import CODE_HINT, CODE_RE
from backend.domain.config_values import UUID_RE

STRATEGIES = ("set", "add", "sum", "set_if_empty", "clear")
SOURCES = ("property", "identifier", "segments", "interactions", "permissions", "static")
PROFILE_IDENTIFIER_RE = re.compile(r"[a-z][a-z0-9_]{0,49}")
PROFILE_IDENTIFIER_HINT = "external_id, email, or another identifier name such as braze_id"
# Braze attribute names: no leading '$' (reserved operators), no control characters.
BRAZE_NAME_RE = re.compile(r"[^$\x00-\x1f\x7f][^\x00-\x1f\x7f]{0,254}")
PREFIX_RE = re.compile(r"[A-Za-z0-9_.-]{0,50}")
MAX_MAPPINGS = 500  # Braze's custom_attributes_to_export limit (braze_api.md §6)


@dataclass(frozen=True)
class IdentifierLink:
    braze: str
    profile: str


@dataclass(frozen=True)
class ImportMapping:
    braze: str
    profile: str
    strategy: str = "set"


@dataclass(frozen=True)
class RemainingFields:
    enabled: bool = False
    prefix: str = ""
    strategy: str = "set"


@dataclass(frozen=True)
class ImportGoalSpec:
    code: str
    braze_segment_id: str
    identifiers: tuple[IdentifierLink, ...]
    allow_create: bool = False
    mappings: tuple[ImportMapping, ...] = ()
    remaining_fields: RemainingFields = RemainingFields()


@dataclass(frozen=True)
class ExportMapping:
    source: str
    braze: str
    name: str | None = None  # property or identifier name
    value: str | None = None  # static text


@dataclass(frozen=True)
class Destinations:
    braze: bool = True
    s3_cdi: bool = False


@dataclass(frozen=True)
class ExportGoalSpec:
    code: str
    segment: str
    identifiers: tuple[IdentifierLink, ...]
    create_if_missing: bool = False
    mappings: tuple[ExportMapping, ...] = ()
    destinations: Destinations = Destinations()


def _strategy(reader: Reader, key: str) -> str | None:
    value = reader.get(key)
    if value is None:
        return "set"
    if not isinstance(value, str) or value not in STRATEGIES:
        reader.problem(key, f"must be one of {', '.join(STRATEGIES)}")
        return None
    return value


def _identifiers(reader: Reader) -> tuple[IdentifierLink, ...]:
    links: list[IdentifierLink] = []
    entries = reader.items("identifiers", required=True, max_items=len(BRAZE_IDENTIFIERS))
    if entries is not None and not entries:
        reader.problem(
            "identifiers",
            "link at least one identifier, e.g. {braze: external_id, profile: external_id}",
        )
    for path, value in entries or []:
        item = Reader.of(value, path, reader.problems, ("braze", "profile"))
        if item is None:
            continue
        braze = item.get("braze")
        if not isinstance(braze, str) or braze not in BRAZE_IDENTIFIERS:
            item.problem("braze", f"must be one of {', '.join(BRAZE_IDENTIFIERS)}")
            braze = None
        profile = item.text(
            "profile", max_length=50, pattern=PROFILE_IDENTIFIER_RE, hint=PROFILE_IDENTIFIER_HINT
        )
        if braze and profile:
            link = IdentifierLink(braze, profile)
            if any(link.braze == other.braze for other in links):
                item.problem("braze", f"duplicate identifier {braze!r}")
            else:
                links.append(link)
    return tuple(links)


def parse_import_goal(value: Any, path: str, problems: Problems) -> ImportGoalSpec | None:
    reader = Reader.of(
        value,
        path,
        problems,
        ("code", "braze_segment_id", "identifiers", "allow_create", "mappings", "remaining_fields"),
    )
    if reader is None:
        return None
    before = len(problems.errors)
    code = reader.text("code", max_length=64, pattern=CODE_RE, hint=CODE_HINT)
    segment_id = reader.text(
        "braze_segment_id",
        max_length=100,
        pattern=UUID_RE,
        hint="a Braze segment identifier (a UUID; see /segments/list)",
    )
    identifiers = _identifiers(reader)
    allow_create = reader.flag("allow_create", False)
    mappings: list[ImportMapping] = []
    targets: dict[str, str] = {}
    for item_path, item_value in reader.items("mappings", max_items=MAX_MAPPINGS) or []:
        item = Reader.of(item_value, item_path, problems, ("braze", "profile", "strategy"))
        if item is None:
            continue
        braze = item.text(
            "braze",
            max_length=255,
            strip=False,
            pattern=BRAZE_NAME_RE,
            hint="a Braze field or custom attribute name",
        )
        profile = item.text("profile", max_length=200, strip=False)
        strategy = _strategy(item, "strategy")
        if profile is not None and profile in targets:
            item.problem("profile", f"{profile!r} is already the target of {targets[profile]}")
        elif profile is not None:
            targets[profile] = item_path
        if braze and profile and strategy:
            mappings.append(ImportMapping(braze, profile, strategy))
    remaining = RemainingFields()
    rest = reader.child("remaining_fields", ("enabled", "prefix", "strategy"))
    if rest is not None:
        prefix = rest.get("prefix")
        if prefix is not None and (not isinstance(prefix, str) or not PREFIX_RE.fullmatch(prefix)):
            shown = repr(prefix) if isinstance(prefix, str) else describe(prefix)
            rest.problem("prefix", f"{shown} is not valid: up to 50 letters, digits, '_', '.', '-'")
            prefix = ""
        strategy = _strategy(rest, "strategy")
        remaining = RemainingFields(rest.flag("enabled", False), prefix or "", strategy or "set")
    if len(problems.errors) > before:
        return None
    assert code and segment_id
    return ImportGoalSpec(code, segment_id, identifiers, allow_create, tuple(mappings), remaining)


def _export_mapping(item: Reader, seen: dict[str, str]) -> ExportMapping | None:
    before = len(item.problems.errors)
    source = item.get("source")
    if not isinstance(source, str) or source not in SOURCES:
        item.problem("source", f"must be one of {', '.join(SOURCES)}")
        source = None
    braze = item.text(
        "braze", max_length=255, strip=False, pattern=BRAZE_NAME_RE, hint="a Braze attribute name"
    )
    if braze is not None and braze in seen:
        item.problem("braze", f"{braze!r} is already mapped by {seen[braze]}")
    elif braze is not None:
        seen[braze] = item.path
    name = value = None
    if source in ("property", "identifier"):
        name = item.text("name", max_length=200, strip=False)
    elif item.has("name"):
        item.problem("name", f"only property and identifier mappings take a name, not {source}")
    if source == "static":
        value = item.text("value", max_length=1000, strip=False)
    elif item.has("value"):
        item.problem("value", "only static mappings take a value")
    if len(item.problems.errors) > before or source is None or braze is None:
        return None
    return ExportMapping(source, braze, name, value)


def parse_export_goal(value: Any, path: str, problems: Problems) -> ExportGoalSpec | None:
    reader = Reader.of(
        value,
        path,
        problems,
        ("code", "segment", "identifiers", "create_if_missing", "mappings", "destinations"),
    )
    if reader is None:
        return None
    before = len(problems.errors)
    code = reader.text("code", max_length=64, pattern=CODE_RE, hint=CODE_HINT)
    segment = reader.text("segment", max_length=64, pattern=CODE_RE, hint=CODE_HINT)
    if segment is not None:
        problems.refer(reader.at("segment"), "segments", segment)
    identifiers = _identifiers(reader)
    create = reader.flag("create_if_missing", False)
    seen: dict[str, str] = {}
    mappings = []
    for item_path, item_value in reader.items("mappings", max_items=MAX_MAPPINGS) or []:
        item = Reader.of(item_value, item_path, problems, ("source", "name", "value", "braze"))
        mapping = _export_mapping(item, seen) if item is not None else None
        if mapping is not None:
            mappings.append(mapping)
    destinations = Destinations()
    dest = reader.child("destinations", ("braze", "s3_cdi"))
    if dest is not None:
        destinations = Destinations(dest.flag("braze", True), dest.flag("s3_cdi", False))
        if not (destinations.braze or destinations.s3_cdi):
            reader.problem("destinations", "turn on at least one of braze, s3_cdi")
    if len(problems.errors) > before:
        return None
    assert code and segment
    return ExportGoalSpec(code, segment, identifiers, create, tuple(mappings), destinations)


def import_goal_to_dict(goal: ImportGoalSpec) -> dict[str, Any]:
    rest = goal.remaining_fields
    return {
        "code": goal.code,
        "braze_segment_id": goal.braze_segment_id,
        "identifiers": [{"braze": i.braze, "profile": i.profile} for i in goal.identifiers],
        "allow_create": goal.allow_create,
        "mappings": [
            {"braze": m.braze, "profile": m.profile, "strategy": m.strategy} for m in goal.mappings
        ],
        "remaining_fields": {
            "enabled": rest.enabled,
            "prefix": rest.prefix,
            "strategy": rest.strategy,
        },
    }


def export_mapping_to_dict(mapping: ExportMapping) -> dict[str, Any]:
    result: dict[str, Any] = {"source": mapping.source}
    if mapping.name is not None:
        result["name"] = mapping.name
    if mapping.value is not None:
        result["value"] = mapping.value
    result["braze"] = mapping.braze
    return result


def export_goal_to_dict(goal: ExportGoalSpec) -> dict[str, Any]:
    return {
        "code": goal.code,
        "segment": goal.segment,
        "identifiers": [{"profile": i.profile, "braze": i.braze} for i in goal.identifiers],
        "create_if_missing": goal.create_if_missing,
        "mappings": [export_mapping_to_dict(m) for m in goal.mappings],
        "destinations": {"braze": goal.destinations.braze, "s3_cdi": goal.destinations.s3_cdi},
    }
