"""Preference rules: what a save request may say, which choices it changes, how state is shown."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backend.domain.errors import FieldError, ValidationError
from backend.domain.texts import channel_label, localised

STATES = ("subscribed", "unsubscribed")
MAX_CHANGES = 200
MAX_CODE_LENGTH = 64
# Global Braze states that unsubscribe-from-all sets (braze_api.md §1.2), by the channel they gate.
GLOBAL_KINDS: dict[str, str] = {"email_subscribe": "email", "push_subscribe": "push"}
# The ledger names a global change with this subscription code.
ALL_TOPICS = "*"


@dataclass(frozen=True)
class ChannelSpec:
    channel: str
    connection_id: int
    group_id: str


@dataclass(frozen=True)
class TopicSpec:
    id: int
    code: str
    name: Mapping[str, str]
    description: Mapping[str, str]
    text_version: int
    channels: tuple[ChannelSpec, ...]

    def channel(self, name: str) -> ChannelSpec | None:
        return next((c for c in self.channels if c.channel == name), None)


@dataclass(frozen=True)
class Change:
    subscription: str
    channel: str
    state: str


@dataclass(frozen=True)
class SaveRequest:
    property: str
    changes: tuple[Change, ...]
    unsubscribe_all: bool
    language: str | None


@dataclass(frozen=True)
class BootstrapRequest:
    property: str
    language: str | None


@dataclass(frozen=True)
class Current:
    """A choice the subject made before, and whether Braze has it yet."""

    state: str
    sync_status: str | None


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError("body: must be a JSON object")
    return body


def _code(body: Mapping[str, Any], key: str, path: str | None = None) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_CODE_LENGTH:
        raise ValidationError(
            FieldError(path or key, f"required string of 1 to {MAX_CODE_LENGTH} characters")
        )
    return value.strip()


def property_code(body: Any) -> str:
    return _code(_object(body), "property")


def _language(body: Mapping[str, Any]) -> str | None:
    value = body.get("language")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 16:
        raise ValidationError(FieldError("language", "must be a language code such as 'en'"))
    return value


def parse_bootstrap(body: Any) -> BootstrapRequest:
    body = _object(body)
    return BootstrapRequest(property=_code(body, "property"), language=_language(body))


def parse_save(body: Any) -> SaveRequest:
    """Check shapes and types only; whether topics and channels exist is checked later."""
    body = _object(body)
    code = _code(body, "property")
    raw_changes = body.get("changes", [])
    if not isinstance(raw_changes, list):
        raise ValidationError(FieldError("changes", "must be an array"))
    if len(raw_changes) > MAX_CHANGES:
        raise ValidationError(FieldError("changes", f"at most {MAX_CHANGES} changes per request"))
    unsubscribe_all = body.get("unsubscribe_all", False)
    if not isinstance(unsubscribe_all, bool):
        raise ValidationError(FieldError("unsubscribe_all", "must be true or false"))
    return SaveRequest(
        property=code,
        changes=parse_changes(raw_changes),
        unsubscribe_all=unsubscribe_all,
        language=_language(body),
    )


def parse_changes(raw_changes: Sequence[Any]) -> tuple[Change, ...]:
    errors: list[FieldError] = []
    changes: list[Change] = []
    for index, item in enumerate(raw_changes):
        path = f"changes[{index}]"
        if not isinstance(item, Mapping):
            errors.append(FieldError(path, "must be an object"))
            continue
        try:
            subscription = _code(item, "subscription", f"{path}.subscription")
            channel = _code(item, "channel", f"{path}.channel")
        except ValidationError as exc:
            errors.extend(exc.errors)
            continue
        state = item.get("state")
        if state not in STATES:
            errors.append(FieldError(f"{path}.state", "must be 'subscribed' or 'unsubscribed'"))
            continue
        changes.append(Change(subscription, channel, state))
    if errors:
        raise ValidationError(errors)
    return tuple(changes)


def plan_changes(
    topics: Sequence[TopicSpec],
    current: Mapping[tuple[str, str], Current],
    changes: Sequence[Change],
    *,
    unsubscribe_all: bool = False,
) -> list[Change]:
    """The choices that differ from the current state, in request order; the last word wins.

    Unknown topics or channels are refused. With ``unsubscribe_all`` every channel of every topic
    becomes unsubscribed and ``changes`` are ignored. A choice never made before counts as a
    change even when it is "unsubscribed": an explicit opt-out is worth recording and sending.
    """
    by_code = {t.code: t for t in topics}
    errors: list[FieldError] = []
    for index, change in enumerate(changes):
        topic = by_code.get(change.subscription)
        if topic is None:
            errors.append(
                FieldError(
                    f"changes[{index}].subscription", f"unknown topic {change.subscription!r}"
                )
            )
        elif topic.channel(change.channel) is None:
            errors.append(
                FieldError(
                    f"changes[{index}].channel",
                    f"topic {change.subscription!r} has no channel {change.channel!r}",
                )
            )
    if errors:
        raise ValidationError(errors)
    if unsubscribe_all:
        wanted = [Change(t.code, c.channel, "unsubscribed") for t in topics for c in t.channels]
    else:
        last: dict[tuple[str, str], Change] = {}
        for change in changes:
            last.pop((change.subscription, change.channel), None)
            last[(change.subscription, change.channel)] = change
        wanted = list(last.values())
    out: list[Change] = []
    for change in wanted:
        before = current.get((change.subscription, change.channel))
        if before is None or before.state != change.state:
            out.append(change)
    return out


def plan_globals(
    changes: Iterable[Change], globals_now: Mapping[str, str], *, unsubscribe_all: bool
) -> list[tuple[str, str]]:
    """Global Braze states to set: all unsubscribed on unsubscribe-all; restored to "subscribed"
    when the person opts in again to a channel that a global unsubscribe still blocks."""
    if unsubscribe_all:
        return [(k, "unsubscribed") for k in GLOBAL_KINDS if globals_now.get(k) != "unsubscribed"]
    subscribed_channels = {c.channel for c in changes if c.state == "subscribed"}
    return [
        (kind, "subscribed")
        for kind, channel in GLOBAL_KINDS.items()
        if channel in subscribed_channels and globals_now.get(kind) == "unsubscribed"
    ]


def topics_view(
    topics: Sequence[TopicSpec],
    current: Mapping[tuple[str, str], Current],
    language: str,
    fallback_languages: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Topics × channels as the widget shows them; never-chosen channels are unsubscribed."""
    view: list[dict[str, Any]] = []
    for topic in topics:
        channels = []
        for spec in topic.channels:
            choice = current.get((topic.code, spec.channel))
            channels.append(
                {
                    "channel": spec.channel,
                    "label": channel_label(language, spec.channel),
                    "state": choice.state if choice else "unsubscribed",
                    "sync_status": choice.sync_status if choice else None,
                }
            )
        view.append(
            {
                "code": topic.code,
                "name": localised(dict(topic.name), language, fallback_languages) or topic.code,
                "description": localised(dict(topic.description), language, fallback_languages),
                "channels": channels,
            }
        )
    return view


def mask_email(email: str | None) -> str | None:
    """``jane@example.com`` → ``j***@example.com``: enough to recognise, not to harvest."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"
