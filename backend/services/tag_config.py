"""The public configuration a property's tag carries: what the loader needs before any API call.

Nothing secret and nothing about a visitor goes in here: the tag is a public, cacheable file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from backend.db.models import Property
from backend.domain.config_specs import CAPTURE_SOURCES
from backend.domain.texts import text
from backend.services.deps import Deps

THEME_NAME = re.compile(r"[a-z][a-z0-9-]{0,49}")
THEME_FORBIDDEN = frozenset(";{}<>\\\"'")

# The few texts the widget shows before a bootstrap call returns the rest: the dialog chrome and,
# where the property allows it, the email-code form for a visitor without a valid token.
CHROME_KEYS = ("title", "close", "loading", "error_generic", "too_many_requests")
EMAIL_KEYS = (
    "email_prompt",
    "email_label",
    "email_send",
    "code_prompt",
    "code_label",
    "code_verify",
    "code_sent",
    "code_resend",
    "code_invalid",
    "code_expired",
)


@dataclass(frozen=True)
class TagConfig:
    property_code: str
    config_version: int
    public: dict[str, Any]


def load_tag_config(deps: Deps, property_code: str) -> TagConfig | None:
    """The property's public tag configuration, or None when there is no such property."""
    with deps.session() as session:
        prop = session.scalar(select(Property).where(Property.code == property_code))
        if prop is None:
            return None
        languages = [lang for lang in (prop.languages or []) if isinstance(lang, str)] or ["en"]
        public: dict[str, Any] = {
            "property": prop.code,
            "api": deps.settings.public_url.rstrip("/"),
            "languages": languages,
            "identity_capture": _capture(prop.identity_capture),
            "email_verification": bool(prop.email_verification),
            "theme": _theme(prop.theme),
            "texts": _texts(languages, with_email=bool(prop.email_verification)),
        }
        return TagConfig(prop.code, prop.config_version, public)


def _capture(entries: Any) -> list[dict[str, str]]:
    result: list[dict[str, str]] = []
    for entry in entries or []:
        if not isinstance(entry, dict) or entry.get("source") not in CAPTURE_SOURCES:
            continue
        item = {"source": str(entry["source"])}
        if isinstance(entry.get("key"), str):
            item["key"] = entry["key"]
        result.append(item)
    return result or [{"source": "queue"}]


def _theme(theme: Any) -> dict[str, str]:
    """Theme values become CSS custom properties; keep only names and values that are safe there."""
    if not isinstance(theme, dict):
        return {}
    return {
        name: value
        for name, value in theme.items()
        if isinstance(name, str)
        and THEME_NAME.fullmatch(name)
        and isinstance(value, str)
        and len(value) <= 200
        and not THEME_FORBIDDEN.intersection(value)
    }


def _texts(languages: list[str], *, with_email: bool) -> dict[str, dict[str, str]]:
    keys = CHROME_KEYS + EMAIL_KEYS if with_email else CHROME_KEYS
    return {lang: {key: text(lang, key) for key in keys} for lang in languages}
