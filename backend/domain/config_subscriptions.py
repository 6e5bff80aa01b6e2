"""The ``subscriptions`` section: topics with translated texts and their Braze channels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.domain.config_registry import ParseContext, Reference, Section, register_section
from backend.domain.config_schema import Problems, Reader, describe
from backend.domain.config_specs import (
    CHANNELS,
    CODE_HINT,
    CODE_RE,
    ChannelSpec,
    SubscriptionSpec,
)
from backend.domain.config_values import group_id_problem, language_problem

NAME = "subscriptions"
KEYS = ("code", "name", "description", "position", "channels")
CHANNEL_KEYS = ("channel", "connection", "subscription_group_id")


def texts(reader: Reader, key: str, *, required: bool, max_length: int) -> dict[str, str] | None:
    """A plain string (English) or a {language: text} map that has an ``en`` entry.

    An optional text may also be empty ("" or {}), which is how an export shows "none".
    """
    if not required and reader.get(key) in ("", {}):
        return {}
    if not reader.has(key):
        if required:
            reader.problem(key, "required")
            return None
        return {}
    value = reader.get(key)
    if isinstance(value, str):
        text = reader.text(key, max_length=max_length, multiline=True)
        return None if text is None else {"en": text}
    if not isinstance(value, Mapping):
        reader.problem(
            key, f"expected a string or a map of language to text, got {describe(value)}"
        )
        return None
    by_language = Reader(value, reader.at(key), reader.problems, None)
    before = len(reader.problems.errors)
    result: dict[str, str] = {}
    for language in by_language.raw:
        if not isinstance(language, str):
            continue  # already reported by the reader
        problem = language_problem(language)
        if problem:
            by_language.problem(language, problem)
            continue
        text = by_language.text(language, max_length=max_length, multiline=True)
        if text is not None:
            result[language] = text
    if len(reader.problems.errors) > before:
        return None
    if "en" not in result:
        reader.problem(key, "needs an English text: a string, or a map with an 'en' entry")
        return None
    return ordered_texts(result)


def ordered_texts(by_language: Mapping[str, str]) -> dict[str, str]:
    """English first, then by language code: one stable order for exports."""
    return dict(sorted(by_language.items(), key=lambda item: (item[0] != "en", item[0])))


def _channels(reader: Reader) -> tuple[ChannelSpec, ...]:
    result: list[ChannelSpec] = []
    seen: dict[str, str] = {}
    entries = reader.items("channels", required=True, max_items=len(CHANNELS))
    if entries is not None and not entries:
        reader.problem("channels", "list at least one channel")
    for path, value in entries or []:
        item = Reader.of(value, path, reader.problems, CHANNEL_KEYS)
        if item is None:
            continue
        before = len(reader.problems.errors)
        channel = item.choice("channel", CHANNELS, None)
        if channel is not None and channel in seen:
            item.problem("channel", f"duplicate channel {channel!r} (also {seen[channel]})")
        elif channel is not None:
            seen[channel] = path
        connection = item.text("connection", max_length=64, pattern=CODE_RE, hint=CODE_HINT)
        if connection is not None:
            reader.problems.refer(item.at("connection"), "braze_connections", connection)
        group = item.text("subscription_group_id", max_length=100)
        if group is not None:
            problem = group_id_problem(group)
            if problem:
                item.problem("subscription_group_id", problem)
        if len(reader.problems.errors) == before and channel and connection and group:
            result.append(ChannelSpec(channel, connection, group.lower()))
    return tuple(result)


def parse(value: Any, path: str, problems: Problems, ctx: ParseContext) -> SubscriptionSpec | None:
    reader = Reader.of(value, path, problems, KEYS)
    if reader is None:
        return None
    before = len(problems.errors)
    code = reader.text("code", max_length=64, pattern=CODE_RE, hint=CODE_HINT)
    name = texts(reader, "name", required=True, max_length=200)
    description = texts(reader, "description", required=False, max_length=1000)
    position = reader.integer("position", 0, minimum=-10000, maximum=10000)
    channels = _channels(reader)
    if len(problems.errors) > before:
        return None
    assert code and name is not None and description is not None
    return SubscriptionSpec(code, name, description, position, channels)


def serialise(spec: SubscriptionSpec) -> dict[str, Any]:
    return {
        "code": spec.code,
        "name": dict(spec.name),
        "description": dict(spec.description),
        "position": spec.position,
        "channels": [
            {
                "channel": c.channel,
                "connection": c.connection,
                "subscription_group_id": c.subscription_group_id,
            }
            for c in spec.channels
        ],
    }


def references(spec: SubscriptionSpec) -> list[Reference]:
    return [
        Reference(f"channels[{i}].connection", "braze_connections", c.connection)
        for i, c in enumerate(spec.channels)
    ]


def _display_order(spec: SubscriptionSpec) -> tuple[Any, ...]:
    return (spec.position, spec.code)


SECTION = register_section(
    Section(
        name=NAME,
        kind="subscription",
        label="subscription",
        order=20,
        parse=parse,
        serialise=serialise,
        references=references,
        sort_key=_display_order,
    )
)
