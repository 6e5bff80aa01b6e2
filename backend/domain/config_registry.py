"""The sections a configuration file may have, each a parser/serialiser pair, in dependency order.

A new kind of object (``segments``, ``sync_connections``) adds itself with ``register_section``
from its own module and is listed in ``config_sections.SECTION_MODULES``; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.domain.config_schema import Problems

# Called for each secret of a spec with (secret name, value); returns the value to keep.
SecretMapper = Callable[[str, str | None], str | None]
# Says what is wrong with a public key (PEM, algorithm), beyond what the domain can check.
KeyChecker = Callable[[str, str], str | None]


@dataclass(frozen=True)
class Reference:
    """Entry field ``path`` names the object ``code`` of section ``section``."""

    path: str
    section: str
    code: str


@dataclass(frozen=True)
class ParseContext:
    """What parsing needs to know about the stored configuration, and the instance's settings."""

    allow_custom_braze_endpoints: bool = False
    # Section name → codes already stored (a file may refer to them without naming them).
    known_codes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # (section name, code, secret name) of every secret already stored and readable.
    stored_secrets: frozenset[tuple[str, str, str]] = frozenset()
    check_public_key: KeyChecker | None = None

    def has_secret(self, section: str, code: str | None, name: str) -> bool:
        return code is not None and (section, code, name) in self.stored_secrets


def _no_references(spec: Any) -> list[Reference]:
    return []


def _no_secrets(spec: Any, mapper: SecretMapper) -> Any:
    return spec


def _by_code(spec: Any) -> tuple[Any, ...]:
    return (spec.code,)


@dataclass(frozen=True)
class Section:
    """One top-level key of the file; ``order`` puts referenced kinds before referring ones."""

    name: str  # the file key and API kind, e.g. "braze_connections"
    kind: str  # one object, for report lines and the audit log, e.g. "braze_connection"
    label: str  # in messages, e.g. "Braze connection"
    order: int
    # (entry value, entry path, problems, context) → spec, or None when the entry is invalid.
    parse: Callable[[Any, str, Problems, ParseContext], Any]
    # spec → the mapping a file holds (every field, secrets in plain text).
    serialise: Callable[[Any], dict[str, Any]]
    references: Callable[[Any], list[Reference]] = _no_references
    # Rebuild a spec with each secret passed through the mapper (redact, keep, collect).
    map_secrets: Callable[[Any, SecretMapper], Any] = _no_secrets
    sort_key: Callable[[Any], tuple[Any, ...]] = _by_code


_SECTIONS: dict[str, Section] = {}


def register_section(section: Section) -> Section:
    if section.name in _SECTIONS and _SECTIONS[section.name] != section:
        raise ValueError(f"section {section.name} is registered twice")
    _SECTIONS[section.name] = section
    return section


def sections() -> list[Section]:
    """Every registered section, referenced kinds first."""
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.name))


def section_named(name: str) -> Section | None:
    return _SECTIONS.get(name)


def secrets_of(section: Section, spec: Any) -> dict[str, str | None]:
    """The secrets a spec holds, by name (e.g. ``api_key``, ``signing_keys.k1``)."""
    found: dict[str, str | None] = {}

    def collect(name: str, value: str | None) -> str | None:
        found[name] = value
        return value

    section.map_secrets(spec, collect)
    return found
