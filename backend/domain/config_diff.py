"""What applying a desired configuration would do to the stored one, object by object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend.domain.config_document import ConfigDocument
from backend.domain.config_registry import Section, sections

ACTIONS = ("created", "changed", "unchanged", "deleted")


@dataclass(frozen=True)
class Change:
    section: str  # e.g. "subscriptions"
    kind: str  # e.g. "subscription"
    code: str
    action: str  # one of ACTIONS
    fields: tuple[str, ...] = ()  # the changed fields' names (never their values)


def changed_fields(section: Section, current: Any, desired: Any) -> tuple[str, ...]:
    """Names of the top-level fields whose serialised values differ, in the file's order."""
    old, new = section.serialise(current), section.serialise(desired)
    return tuple(key for key in new if old.get(key) != new[key])


def diff_section(
    section: Section, current: Mapping[str, Any], desired: tuple[Any, ...], *, prune: bool
) -> list[Change]:
    """Created, changed and unchanged in the desired order; then deletions (``prune``) by code."""
    changes: list[Change] = []
    named: set[str] = set()
    for spec in desired:
        named.add(spec.code)
        stored = current.get(spec.code)
        if stored is None:
            changes.append(Change(section.name, section.kind, spec.code, "created"))
            continue
        fields = changed_fields(section, stored, spec)
        action = "changed" if fields else "unchanged"
        changes.append(Change(section.name, section.kind, spec.code, action, fields))
    if prune:
        changes.extend(
            Change(section.name, section.kind, code, "deleted")
            for code in sorted(set(current) - named)
        )
    return changes


def diff(
    current: Mapping[str, Mapping[str, Any]], desired: ConfigDocument, *, prune: bool
) -> list[Change]:
    """Every section the desired document has, in dependency order; prune stays within those."""
    changes: list[Change] = []
    for section in sections():
        if section.name in desired.sections:
            changes.extend(
                diff_section(
                    section, current.get(section.name, {}), desired.specs(section.name), prune=prune
                )
            )
    return changes
