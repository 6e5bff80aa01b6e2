"""Collects the OpenAPI fragments (paths + schemas) that each API module declares."""

from __future__ import annotations

from typing import Any

_FRAGMENTS: list[dict[str, Any]] = []


def register(fragment: dict[str, Any]) -> dict[str, Any]:
    """Called at import by an API module with {"paths": {...}, "schemas": {...}}."""
    _FRAGMENTS.append(fragment)
    return fragment


def all_fragments() -> list[dict[str, Any]]:
    return list(_FRAGMENTS)
