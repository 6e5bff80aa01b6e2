"""Export goal rules: which fields a profile maps to, and which of them Braze still lacks.

Per (goal, profile) we keep a hash per Braze attribute as Braze last acknowledged it
(ExportProfileState.field_hashes). A profile's object carries only the attributes whose hash
differs; an attribute whose value disappeared is sent as null (Braze removes it). Values are
absolute (never ``inc``/``add``), so a batch sent twice lands the same way twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backend.domain.braze_identifiers import BRAZE_IDENTIFIERS, identifier_links
from backend.domain.errors import FieldError, ValidationError

SOURCES = ("property", "identifier", "segments", "interactions", "permissions", "static")
IDENTITY_KEY = "@id"  # field_hashes entry: which Braze user the hashes were acknowledged for
UPDATE_ONLY = "_update_existing_only"


@dataclass(slots=True)
class ProfileView:
    """What an export reads of one profile (built per candidate: kept cheap to construct)."""

    id: int
    version: int
    external_id: str | None
    email: str | None
    identifiers: Mapping[str, Any]
    properties: Mapping[str, Any]
    interactions: Sequence[str] = ()
    segments: Sequence[str] = ()
    permissions: Sequence[str] = ()


@dataclass(frozen=True)
class ExportField:
    source: str
    braze: str
    name: str = ""
    value: Any = None


@dataclass(frozen=True)
class ExportPlan:
    identifiers: tuple[tuple[str, str], ...]  # (profile identifier, braze identifier), in order
    fields: tuple[ExportField, ...]
    create_if_missing: bool

    @property
    def needs_segments(self) -> bool:
        return any(f.source == "segments" for f in self.fields)

    @property
    def needs_permissions(self) -> bool:
        return any(f.source == "permissions" for f in self.fields)


def plan_export(
    identifiers: Sequence[Mapping[str, Any]],
    mappings: Sequence[Mapping[str, Any]],
    *,
    create_if_missing: bool,
) -> ExportPlan:
    problems: list[FieldError] = []
    ids = [(p, b) for b, p in identifier_links(identifiers, problems, noun="link")]
    fields: list[ExportField] = []
    seen: set[str] = set()
    for i, mapping in enumerate(mappings):
        item = ExportField(
            source=str(mapping.get("source") or ""),
            braze=str(mapping.get("braze") or ""),
            name=str(mapping.get("name") or ""),
            value=mapping.get("value"),
        )
        if item.source not in SOURCES:
            problems.append(FieldError(f"mappings[{i}].source", f"one of {SOURCES}"))
        if not item.braze or item.braze in seen or item.braze.startswith(("_", "@")):
            problems.append(FieldError(f"mappings[{i}].braze", "a unique Braze attribute name"))
        if item.source in ("property", "identifier") and not item.name:
            problems.append(FieldError(f"mappings[{i}].name", "required for this source"))
        seen.add(item.braze)
        fields.append(item)
    if problems:
        raise ValidationError(problems)
    return ExportPlan(tuple(ids), tuple(fields), create_if_missing)


def definition_hash(
    segment_code: str,
    identifiers: Sequence[Mapping[str, Any]],
    create_if_missing: bool,
    mappings: Sequence[Mapping[str, Any]],
) -> str:
    """A goal definition's fingerprint: profiles exported under another one are rechecked."""
    definition = [segment_code, list(identifiers), create_if_missing, list(mappings)]
    raw = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def _digest(value: Any) -> str:
    kind = type(value)
    if kind is str:
        raw = b"s" + value.encode()
    elif kind is int:
        raw = b"i" + str(value).encode()
    elif kind is float:
        raw = b"f" + repr(value).encode()
    elif kind is bool:
        raw = b"b1" if value else b"b0"
    else:
        raw = b"j" + json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


_MEMO: dict[tuple[type, Any], str] = {}
MEMO_MAX = 50_000  # distinct short values (tiers, countries, segment lists) repeat a lot


def value_hash(value: Any) -> str:
    """A short stable hash of a JSON value; repeated scalars and string lists are memoised."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool:
        key: tuple[Any, ...] = (kind, value)
    elif kind is list or kind is tuple:
        try:
            key = (list, tuple(value))
            found = _MEMO.get(key)
        except TypeError:  # unhashable items (objects, lists): not memoised
            return _digest(list(value))
        if found is not None:  # only lists of strings are ever stored, so no 1/True mix-up
            return found
        value = list(value)
        if not all(type(v) is str for v in value):
            return _digest(value)
    else:
        return _digest(value)
    found = _MEMO.get(key)
    if found is None:
        found = _digest(value)
        if len(_MEMO) < MEMO_MAX:
            _MEMO[key] = found
    return found


def identifier_value(profile: ProfileView, name: str) -> Any:
    if name == "external_id":
        return profile.external_id
    if name == "email":
        return profile.email
    return profile.identifiers.get(name)


Getter = Callable[[ProfileView], Any]


def _getter(item: ExportField) -> Getter:
    if item.source == "property":
        name = item.name
        return lambda p: p.properties.get(name)
    if item.source == "identifier":
        name = item.name
        return lambda p: identifier_value(p, name)
    if item.source == "segments":
        return lambda p: sorted(p.segments)
    if item.source == "interactions":
        return lambda p: list(p.interactions)
    if item.source == "permissions":
        return lambda p: sorted(p.permissions)
    value = item.value
    return lambda p: value


@dataclass(slots=True)
class Delta:
    """What one profile needs: ``obj`` to send (None: nothing), hashes once acknowledged."""

    obj: dict[str, Any] | None
    hashes: dict[str, str]
    skipped: bool = False  # no identifier to address the Braze user by

    @property
    def changed_fields(self) -> list[str]:
        return [k for k in self.obj or {} if k not in BRAZE_IDENTIFIERS and k != UPDATE_ONLY]


class DeltaPlanner:
    """Compiled once per run; ``delta`` is called per candidate profile (the hot loop)."""

    def __init__(self, plan: ExportPlan) -> None:
        self.export_plan = plan
        self._getters = [(f.braze, _getter(f)) for f in plan.fields]
        self._update_only = not plan.create_if_missing

    def identity(self, profile: ProfileView) -> tuple[str, Any] | None:
        for profile_name, braze_name in self.export_plan.identifiers:
            value = identifier_value(profile, profile_name)
            if isinstance(value, str) and value:
                return braze_name, value
        return None

    def values(self, profile: ProfileView) -> dict[str, Any]:
        return {braze: get(profile) for braze, get in self._getters}

    def delta(self, profile: ProfileView, acked: Mapping[str, str] | None) -> Delta:
        identity = self.identity(profile)
        if identity is None:
            return Delta(None, dict(acked or {}), skipped=True)
        identity_hash = _digest(f"{identity[0]}\x00{identity[1]}")
        if not acked or acked.get(IDENTITY_KEY) != identity_hash:
            acked = {}  # another Braze user (or none yet): every field is new to it
        hashes = {IDENTITY_KEY: identity_hash}
        obj: dict[str, Any] = {}
        for braze, get in self._getters:
            value = get(profile)
            if value is None:
                if braze in acked:
                    obj[braze] = None  # disappeared: Braze removes the attribute
                continue
            digest = value_hash(value)
            hashes[braze] = digest
            if acked.get(braze) != digest:
                obj[braze] = value
        if not obj:
            return Delta(None, hashes)
        out = {identity[0]: identity[1], UPDATE_ONLY: self._update_only}
        out.update(obj)
        return Delta(out, hashes)


def attribute_of(obj: Mapping[str, Any], message: str) -> str | None:
    """The attribute a Braze error sentence names, when it names one of the object's keys."""
    for key in obj:
        if key != UPDATE_ONLY and f"'{key}'" in message:
            return key
    return None
