"""A tiny validation toolkit that reads untrusted mappings and collects every problem by path.

Parsers call ``Reader`` methods that return a usable value or ``None`` and record a
``FieldError`` instead of raising, so one run reports all mistakes in a file at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from backend.domain.errors import FieldError, ValidationError

# Control characters never belong in names, codes or keys (tabs and newlines only in texts).
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def join(path: str, key: str | int) -> str:
    """``a`` + ``b`` → ``a.b``; ``a`` + 0 → ``a[0]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def describe(value: Any) -> str:
    """The YAML/JSON word for a type, for messages such as "expected a list, got a string"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


class Problems:
    """The errors found so far, in the order they were found."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        # (path, section, code) named by entries, checked once every section has been read.
        self.references: list[tuple[str, str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def refer(self, path: str, section: str, code: str) -> None:
        self.references.append((path, section, code))

    def extend(self, errors: Iterable[FieldError]) -> None:
        self.errors.extend(errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(list(self.errors))


def unknown_key_message(key: str, allowed: Iterable[str], noun: str = "key") -> str:
    """Name the unknown key and suggest the closest allowed one, since most are typos."""
    choices = sorted(allowed)
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    if close:
        return f"unknown {noun} {key!r}; did you mean {close[0]!r}?"
    return f"unknown {noun} {key!r}; expected one of: {', '.join(choices)}"


class Reader:
    """Typed access to one mapping at ``path``; every problem is added to ``problems``."""

    def __init__(
        self,
        raw: Mapping[Any, Any],
        path: str,
        problems: Problems,
        allowed: Iterable[str] | None,
    ) -> None:
        """``allowed`` None accepts any string key (maps of names such as a theme)."""
        self.raw = raw
        self.path = path
        self.problems = problems
        self.allowed = None if allowed is None else frozenset(allowed)
        for key in raw:
            if not isinstance(key, str):
                problems.add(join(path, str(key)), f"keys must be strings, got {describe(key)}")
            elif self.allowed is not None and key not in self.allowed:
                problems.add(join(path, key), unknown_key_message(key, self.allowed))

    @classmethod
    def of(
        cls, value: Any, path: str, problems: Problems, allowed: Iterable[str] | None
    ) -> Reader | None:
        """A reader over ``value`` if it is a mapping; otherwise record why and return None."""
        if not isinstance(value, Mapping):
            problems.add(path, f"expected a mapping, got {describe(value)}")
            return None
        return cls(value, path, problems, allowed)

    def at(self, key: str | int) -> str:
        return join(self.path, key)

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def get(self, key: str) -> Any:
        return self.raw.get(key)

    def problem(self, key: str | int, message: str) -> None:
        self.problems.add(self.at(key), message)

    def _missing(self, key: str, required: bool) -> bool:
        """True when the value is absent or null; records "required" if it had to be there."""
        if self.raw.get(key) is None:
            if required:
                self.problem(key, "required")
            return True
        return False

    def text(
        self,
        key: str,
        *,
        required: bool = True,
        max_length: int = 200,
        pattern: re.Pattern[str] | None = None,
        hint: str = "",
        multiline: bool = False,
        strip: bool = True,
        secret: bool = False,
    ) -> str | None:
        """A non-empty string. ``secret`` keeps the value out of every message."""
        if self._missing(key, required):
            return None
        value = self.raw[key]
        if not isinstance(value, str):
            self.problem(key, f"expected a string, got {describe(value)}")
            return None
        if strip:
            value = value.strip()
        if not value:
            self.problem(key, "must not be empty")
            return None
        if len(value) > max_length:
            self.problem(key, f"must be at most {max_length} characters")
            return None
        if CONTROL_RE.search(value) or (not multiline and ("\n" in value or "\r" in value)):
            self.problem(key, "must not contain control characters or line breaks")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            shown = "this value" if secret else repr(value)
            self.problem(key, f"{shown} is not valid{': ' + hint if hint else ''}")
            return None
        return value

    def flag(self, key: str, default: bool) -> bool:
        if self._missing(key, False):
            return default
        value = self.raw[key]
        if not isinstance(value, bool):
            self.problem(key, f"expected true or false, got {describe(value)}")
            return default
        return value

    def integer(self, key: str, default: int, *, minimum: int, maximum: int) -> int:
        if self._missing(key, False):
            return default
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"expected a whole number, got {describe(value)}")
            return default
        if not minimum <= value <= maximum:
            self.problem(key, f"must be between {minimum} and {maximum}, got {value}")
            return default
        return value

    def number(self, key: str, default: float, *, above: float, maximum: float) -> float:
        """A number in (above, maximum]."""
        if self._missing(key, False):
            return default
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(key, f"expected a number, got {describe(value)}")
            return default
        if not above < value <= maximum:
            self.problem(key, f"must be more than {above} and at most {maximum}, got {value}")
            return default
        return float(value)

    def items(
        self, key: str, *, required: bool = False, max_items: int = 1000
    ) -> list[tuple[str, Any]] | None:
        """The elements of a list with their paths, or None when absent or not a list."""
        if self._missing(key, required):
            return None
        value = self.raw[key]
        if not isinstance(value, list | tuple):
            self.problem(key, f"expected a list, got {describe(value)}")
            return None
        if len(value) > max_items:
            self.problem(key, f"at most {max_items} entries")
            return None
        return [(join(self.at(key), i), item) for i, item in enumerate(value)]

    def child(
        self, key: str, allowed: Iterable[str] | None, *, required: bool = False
    ) -> Reader | None:
        if self._missing(key, required):
            return None
        return Reader.of(self.raw[key], self.at(key), self.problems, allowed)

    def choice(self, key: str, choices: Iterable[str], default: str | None) -> str | None:
        """One of a fixed set of words (None when wrong); ``default`` None makes it required."""
        options = sorted(choices)
        if self._missing(key, default is None):
            return default
        value = self.raw[key]
        if not isinstance(value, str) or value not in options:
            shown = repr(value) if isinstance(value, str) else describe(value)
            self.problem(key, f"{shown} is not one of: {', '.join(options)}")
            return None
        return value


def unique_strings(
    entries: list[tuple[str, Any]] | None,
    problems: Problems,
    check: Callable[[str], str | None],
    *,
    normalise: Callable[[str], str] = str,
) -> list[str]:
    """A list of strings, each checked, without duplicates; problems name each entry's path."""
    result: list[str] = []
    seen: dict[str, str] = {}
    for path, value in entries or []:
        if not isinstance(value, str):
            problems.add(path, f"expected a string, got {describe(value)}")
            continue
        message = check(value)
        if message:
            problems.add(path, message)
            continue
        value = normalise(value)
        if value in seen:
            problems.add(path, f"duplicate {value!r} (also {seen[value]})")
            continue
        seen[value] = path
        result.append(value)
    return result
