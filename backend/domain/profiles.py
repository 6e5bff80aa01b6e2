"""Profile input: one ``{"identifiers": {...}, "properties": {...}}`` object, checked by path.

Properties given are set, a ``null`` removes one, properties not given are left alone. Values
are JSON values that every supported database can store and compare: finite numbers, strings
without NUL characters or unpaired surrogates, lists and objects of those, nested at most
``MAX_DEPTH`` deep.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.domain.config_schema import Problems, describe, join
from backend.domain.errors import FieldError, ValidationError

MAX_PROPERTIES = 1000
MAX_NAME = 200
MAX_STRING = 10_000
MAX_ITEMS = 1000
MAX_DEPTH = 8
MAX_IDENTIFIER = 255
EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
IDENTIFIER_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,49}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ProfileInput:
    """One profile to find or create, and the property changes to make (None removes)."""

    external_id: str | None = None
    email: str | None = None
    # Identifiers other than external_id and email (e.g. braze_id, phone).
    identifiers: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)


def normalise_email(value: str) -> str:
    return value.strip().lower()


def _text_problem(value: str, max_length: int) -> str | None:
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (an unpaired surrogate was found)"
    return None


def _value_problems(
    value: Any, parent: str, key: str | int, problems: Problems, depth: int
) -> None:
    """Check one JSON value; its path (``parent`` + ``key``) is only built for a problem."""
    kind = type(value)
    if value is None or kind is bool or kind is int:
        return
    if kind is float:
        if not math.isfinite(value):
            problems.add(join(parent, key), "must be a finite number")
        return
    if kind is str:
        problem = _text_problem(value, MAX_STRING)
        if problem:
            problems.add(join(parent, key), problem)
        return
    path = join(parent, key)
    if depth >= MAX_DEPTH:
        problems.add(path, f"nested more than {MAX_DEPTH} levels deep")
        return
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            problems.add(path, f"at most {MAX_ITEMS} items")
            return
        for i, item in enumerate(value):
            if item is None:
                problems.add(join(path, i), "lists must not contain null")
            else:
                _value_problems(item, path, i, problems, depth + 1)
        return
    if isinstance(value, Mapping):
        for name, item in value.items():
            _name_problems(name, path, problems)
            _value_problems(item, path, str(name), problems, depth + 1)
        return
    if isinstance(value, int | float | str):  # subclasses (e.g. an IntEnum) from API callers
        return
    problems.add(path, f"expected a JSON value, got {describe(value)}")


def _name_problems(name: Any, parent: str, problems: Problems) -> None:
    if type(name) is str and name and len(name) <= MAX_NAME and name.isprintable():
        return  # the common case: nothing to report
    path = join(parent, str(name))
    if not isinstance(name, str) or not name:
        problems.add(path, "names must be non-empty strings")
        return
    problem = _text_problem(name, MAX_NAME)
    if problem is None and CONTROL_RE.search(name):
        problem = "names must not contain control characters"
    if problem:
        problems.add(path, problem)


def _identifier(raw: Mapping[str, Any], key: str, problems: Problems) -> str | None:
    value = raw.get(key)
    path = join("identifiers", key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # numeric ids in exports are common; they are still identifiers
    if not isinstance(value, str):
        problems.add(path, f"expected a string, got {describe(value)}")
        return None
    value = value.strip()
    if not value:
        problems.add(path, "must not be empty")
        return None
    problem = _text_problem(value, MAX_IDENTIFIER)
    if problem is None and CONTROL_RE.search(value):
        problem = "must not contain control characters"
    if problem:
        problems.add(path, problem)
        return None
    return value


def parse_profile(raw: Any) -> ProfileInput:
    """Check one profile object; ValidationError names each bad field (``properties.points``)."""
    problems = Problems()
    if not isinstance(raw, Mapping):
        raise ValidationError(
            f"expected an object with identifiers and properties, got {describe(raw)}"
        )
    for key in raw:
        if key not in ("identifiers", "properties"):
            problems.add(str(key), "unknown key; expected identifiers and properties")
    ids = raw.get("identifiers")
    external_id = email = None
    others: dict[str, str] = {}
    if not isinstance(ids, Mapping):
        problems.add(
            "identifiers",
            f'expected an object such as {{"external_id": "u1"}}, got {describe(ids)}',
        )
    else:
        external_id = _identifier(ids, "external_id", problems)
        email = _identifier(ids, "email", problems)
        if email is not None:
            email = normalise_email(email)
            if len(email) > 254 or not EMAIL_RE.fullmatch(email):
                problems.add("identifiers.email", "is not an email address")
                email = None
        for key in ids:
            if key in ("external_id", "email"):
                continue
            if not isinstance(key, str) or not IDENTIFIER_NAME_RE.fullmatch(key):
                problems.add(
                    join("identifiers", str(key)),
                    "identifier names are lowercase letters, digits and '_'",
                )
                continue
            value = _identifier(ids, key, problems)
            if value is not None:
                others[key] = value
        if not problems.errors and external_id is None and email is None and not others:
            problems.add("identifiers", "give at least one identifier (external_id or email)")
    props = raw.get("properties", {})
    properties: dict[str, Any] = {}
    if props is None:
        props = {}
    if not isinstance(props, Mapping):
        problems.add("properties", f"expected an object, got {describe(props)}")
    elif len(props) > MAX_PROPERTIES:
        problems.add("properties", f"at most {MAX_PROPERTIES} properties")
    else:
        for key, value in props.items():
            _name_problems(key, "properties", problems)
            _value_problems(value, "properties", str(key), problems, 0)
            properties[str(key)] = value
    problems.raise_if_any()
    return ProfileInput(external_id, email, others, properties)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_profile_line(text: str | bytes) -> ProfileInput:
    """One NDJSON line; invalid JSON becomes a ValidationError whose message starts so."""
    text = text.rstrip(b"\r\n") if isinstance(text, bytes) else text.rstrip("\r\n")
    try:
        raw = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ValidationError(FieldError("", "invalid JSON: not UTF-8 text")) from None
    except json.JSONDecodeError as exc:
        raise ValidationError(
            FieldError("", f"invalid JSON: {exc.msg} at column {exc.colno}")
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ValidationError(FieldError("", f"invalid JSON: {exc}")) from None
    return parse_profile(raw)


def apply_properties(
    current: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The properties after the changes, or None when nothing would change."""
    result = dict(current)
    changed = False
    for key, value in changes.items():
        if value is None:
            if key in result:
                del result[key]
                changed = True
        elif key not in result or not same_json(result[key], value):
            result[key] = value
            changed = True
    return result if changed else None


_PLAIN = frozenset({str, int, float, type(None)})  # exact types: bool is not int here


def same_json(a: Any, b: Any) -> bool:
    """Equal as stored JSON: True differs from 1, 1 equals 1.0, order of keys does not matter."""
    kind = type(a)
    if kind is type(b) and kind in _PLAIN:
        return bool(a == b)  # the common case, without the generic checks below
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list | Mapping) or isinstance(b, list | Mapping):
        return False
    return bool(a == b)
