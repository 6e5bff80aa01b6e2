"""The configuration file as a whole: ``${VAR}`` interpolation, parsing every section, redaction.

Parsing collects every problem of the file (with paths such as
``subscriptions[1].channels[0].subscription_group_id``) before raising one ``ValidationError``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.domain import config_sections  # noqa: F401  (registers the sections)
from backend.domain.config_connections import NAME as CONNECTIONS
from backend.domain.config_registry import (
    ParseContext,
    Section,
    secrets_of,
    section_named,
    sections,
)
from backend.domain.config_schema import Problems, describe, join, unknown_key_message
from backend.domain.config_specs import (
    CODE_RE,
    REDACTED,
    BrazeConnectionSpec,
    PropertySpec,
    SubscriptionSpec,
)
from backend.domain.config_subscriptions import NAME as SUBSCRIPTIONS
from backend.domain.errors import FieldError, NotFoundError, ValidationError

# "$${" is a literal "${"; "${NAME}" a variable; anything else after "${" is a mistake.
VARIABLE_RE = re.compile(r"\$\$\{|\$\{(?P<name>[^}]*)(?P<close>\}?)")
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(value: Any, environ: Mapping[str, str], path: str = "") -> Any:
    """Replace ``${NAME}`` in every string of a parsed document, so secrets stay out of files."""
    problems = Problems()
    result = _interpolate(value, environ, path, problems)
    problems.raise_if_any()
    return result


def _interpolate(value: Any, environ: Mapping[str, str], path: str, problems: Problems) -> Any:
    if isinstance(value, str):
        return _substitute(value, environ, path, problems)
    if isinstance(value, Mapping):
        return {
            key: _interpolate(item, environ, join(path, str(key)), problems)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [
            _interpolate(item, environ, join(path, i), problems) for i, item in enumerate(value)
        ]
    return value


def _substitute(text: str, environ: Mapping[str, str], path: str, problems: Problems) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group("name")
        if not match.group("close"):
            problems.add(path, "unterminated ${ (write $${ for a literal ${)")
        elif not NAME_RE.fullmatch(name):
            problems.add(
                path, f"invalid variable reference ${{{name}}} (write $${{ for a literal ${{)"
            )
        elif name not in environ:
            problems.add(path, f"undefined variable ${{{name}}}")
        else:
            return environ[name]
        return match.group(0)

    return VARIABLE_RE.sub(replace, text)


@dataclass(frozen=True)
class ConfigDocument:
    """The parsed file: the specs of each section the file has, in file order."""

    sections: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def specs(self, name: str) -> tuple[Any, ...]:
        return self.sections.get(name, ())

    @property
    def braze_connections(self) -> tuple[BrazeConnectionSpec, ...]:
        return self.specs(CONNECTIONS)

    @property
    def properties(self) -> tuple[PropertySpec, ...]:
        return self.specs("properties")

    @property
    def subscriptions(self) -> tuple[SubscriptionSpec, ...]:
        return self.specs(SUBSCRIPTIONS)


def parse_document(
    raw: Any,
    *,
    allow_custom_braze_endpoints: bool = False,
    known_connection_codes: Collection[str] = (),
    known_subscription_codes: Collection[str] = (),
    context: ParseContext | None = None,
) -> ConfigDocument:
    """Validate a whole document; objects may refer to ones in the file or already stored.

    ``context`` (built by the service from the database) replaces the keyword shortcuts.
    """
    if context is None:
        context = ParseContext(
            allow_custom_braze_endpoints=allow_custom_braze_endpoints,
            known_codes={
                CONNECTIONS: frozenset(known_connection_codes),
                SUBSCRIPTIONS: frozenset(known_subscription_codes),
            },
        )
    if not isinstance(raw, Mapping):
        raise ValidationError(f"expected a mapping of sections, got {describe(raw)}")
    problems = Problems()
    names = [s.name for s in sections()]
    for key in raw:
        if not isinstance(key, str) or section_named(key) is None:
            problems.add(str(key), unknown_key_message(str(key), names, "section"))
    file_codes: dict[str, set[str]] = {}
    parsed: dict[str, list[tuple[int, Any]]] = {}
    for section in sections():
        if raw.get(section.name) is None:
            continue  # absent or null: the file says nothing about this kind
        entries = raw[section.name]
        if not isinstance(entries, list | tuple):
            problems.add(section.name, f"expected a list, got {describe(entries)}")
            continue
        file_codes[section.name] = _codes(section, entries, problems)
        parsed[section.name] = [
            (i, spec)
            for i, entry in enumerate(entries)
            if (spec := section.parse(entry, join(section.name, i), problems, context)) is not None
        ]
    _check_references(file_codes, context, problems)
    problems.raise_if_any()
    return ConfigDocument({name: tuple(s for _, s in specs) for name, specs in parsed.items()})


def _check_references(
    file_codes: Mapping[str, set[str]], context: ParseContext, problems: Problems
) -> None:
    """Each reference names an object of the file or one already stored."""
    for path, section_name, code in problems.references:
        if code in file_codes.get(section_name, set()):
            continue
        if code in context.known_codes.get(section_name, ()):
            continue
        target = section_named(section_name)
        label = target.label if target else section_name
        problems.add(path, f"unknown {label} {code!r}: not in this file and not configured yet")


def _codes(section: Section, entries: Any, problems: Problems) -> set[str]:
    """Codes the file names (even of entries with other mistakes), reporting duplicates."""
    seen: dict[str, str] = {}
    for i, entry in enumerate(entries):
        code = entry.get("code") if isinstance(entry, Mapping) else None
        if not isinstance(code, str) or not CODE_RE.fullmatch(code):
            continue
        path = join(join(section.name, i), "code")
        if code in seen:
            problems.add(path, f"duplicate code {code!r} (also {seen[code]})")
        else:
            seen[code] = join(section.name, i)
    return set(seen)


def parse_object(kind: str, raw: Any, context: ParseContext) -> Any:
    """Validate one object exactly as one entry of a file, with paths relative to the object."""
    require_section(kind)
    prefix = f"{kind}[0]"
    try:
        document = parse_document({kind: [raw]}, context=context)
    except ValidationError as exc:
        raise ValidationError([_relative(e, prefix) for e in exc.errors]) from None
    return document.specs(kind)[0]


def _relative(error: FieldError, prefix: str) -> FieldError:
    if error.path == prefix:
        return FieldError("", error.message)
    if error.path.startswith(prefix + "."):
        return FieldError(error.path[len(prefix) + 1 :], error.message)
    return error


def require_section(kind: str) -> Section:
    section = section_named(kind)
    if section is None:
        kinds = ", ".join(s.name for s in sections())
        raise NotFoundError(f"unknown kind {kind!r}; one of: {kinds}")
    return section


def redact(section: Section, spec: Any) -> Any:
    """The spec with every secret shown as ``<redacted>``: what exports and APIs give back."""
    return section.map_secrets(spec, lambda _name, value: None if value is None else REDACTED)


def keep_secrets(section: Section, desired: Any, current: Any | None) -> Any:
    """Replace each ``<redacted>`` secret of ``desired`` by the stored one it stands for."""
    stored = secrets_of(section, current) if current is not None else {}
    return section.map_secrets(
        desired, lambda name, value: stored.get(name) if value == REDACTED else value
    )


def serialise_specs(section: Section, specs: Collection[Any]) -> list[dict[str, Any]]:
    """Redacted, in the section's stable order."""
    return [section.serialise(redact(section, s)) for s in sorted(specs, key=section.sort_key)]
