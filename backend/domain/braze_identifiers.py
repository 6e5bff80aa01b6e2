"""The Braze user identifiers a sync goal may link profiles by, and the check of those links."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from backend.domain.errors import FieldError

BRAZE_IDENTIFIERS = ("external_id", "email", "braze_id", "phone")


def identifier_links(
    identifiers: Sequence[Mapping[str, Any]], problems: list[FieldError], *, noun: str
) -> list[tuple[str, str]]:
    """(braze, profile) for each link, noting a problem for each bad one (and for none at all,
    with ``noun`` naming what the goal calls a link)."""
    links: list[tuple[str, str]] = []
    for i, ident in enumerate(identifiers):
        braze, profile = str(ident.get("braze") or ""), str(ident.get("profile") or "")
        if braze not in BRAZE_IDENTIFIERS:
            problems.append(FieldError(f"identifiers[{i}].braze", f"one of {BRAZE_IDENTIFIERS}"))
        if not profile:
            problems.append(FieldError(f"identifiers[{i}].profile", "required"))
        links.append((braze, profile))
    if not links:
        problems.append(FieldError("identifiers", f"at least one identifier {noun} is required"))
    return links
