"""Turning outbox rows into Braze requests: coalesce (newest wins), group, chunk; and backoff.

Braze limits (braze_api.md): ``/subscription/status/set`` takes at most 50 ids of one kind per
call (§2.1); ``/users/track`` at most 75 attribute objects per call (§1.3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

MAX_IDS_PER_GROUP_SET = 50
MAX_TRACK_OBJECTS = 75
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0

KIND_GROUP = "subscription_group"
KIND_CREATE_USER = "create_user"
TRACK_KINDS = ("email_subscribe", "push_subscribe")

T = TypeVar("T")


@dataclass(frozen=True)
class OutboxItem:
    """The parts of an outbox row the planner needs."""

    id: int
    kind: str
    target: str
    identifier_type: str
    identifier: str
    state: str
    channel: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.target, self.identifier_type, self.identifier)


@dataclass(frozen=True)
class Coalesced:
    winners: list[OutboxItem]
    superseded: list[int]


@dataclass(frozen=True)
class GroupRequest:
    """One ``/subscription/status/set`` call."""

    group_id: str
    state: str
    identifier_type: str  # external_id | email
    identifiers: tuple[str, ...]
    row_ids: tuple[int, ...]


@dataclass
class TrackObject:
    """One ``/users/track`` attributes object and the rows it carries."""

    identifier_type: str
    identifier: str
    attributes: dict[str, Any]
    row_ids: list[int] = field(default_factory=list)
    creates_user: bool = False


def coalesce(items: Iterable[OutboxItem]) -> Coalesced:
    """Per (kind, target, identifier): the newest row (highest id) wins, older ones are moot."""
    newest: dict[tuple[str, str, str, str], OutboxItem] = {}
    superseded: list[int] = []
    for item in sorted(items, key=lambda i: i.id):
        previous = newest.get(item.key)
        if previous is not None:
            superseded.append(previous.id)
        newest[item.key] = item
    return Coalesced(winners=sorted(newest.values(), key=lambda i: i.id), superseded=superseded)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def plan_group_requests(
    items: Iterable[OutboxItem], max_ids: int = MAX_IDS_PER_GROUP_SET
) -> list[GroupRequest]:
    """Group by (group, state, identifier type), then chunk to ``max_ids``; oldest rows first."""
    groups: dict[tuple[str, str, str], list[OutboxItem]] = {}
    for item in sorted(items, key=lambda i: i.id):
        groups.setdefault((item.target, item.state, item.identifier_type), []).append(item)
    requests: list[GroupRequest] = []
    for (group_id, state, id_type), members in groups.items():
        for chunk in chunks(members, max_ids):
            requests.append(
                GroupRequest(
                    group_id=group_id,
                    state=state,
                    identifier_type=id_type,
                    identifiers=tuple(i.identifier for i in chunk),
                    row_ids=tuple(i.id for i in chunk),
                )
            )
    return requests


def plan_track_objects(
    items: Iterable[OutboxItem],
    creates: Mapping[str, str | None] | None = None,
    *,
    create_missing_users: bool = True,
) -> list[TrackObject]:
    """One attributes object per user: global states, subscription groups Braze cannot set by that
    identifier, and the creation of external ids Braze has not seen (``creates``: id -> email)."""
    objects: dict[tuple[str, str], TrackObject] = {}

    def object_for(id_type: str, identifier: str) -> TrackObject:
        key = (id_type, identifier)
        if key not in objects:
            attributes: dict[str, Any] = {id_type: identifier}
            if id_type == "external_id":
                # braze_api.md §1.1: with external_id, false creates a missing profile.
                attributes["_update_existing_only"] = not create_missing_users
            objects[key] = TrackObject(id_type, identifier, attributes)
        return objects[key]

    for item in sorted(items, key=lambda i: i.id):
        obj = object_for(item.identifier_type, item.identifier)
        if item.kind == KIND_GROUP:
            obj.attributes.setdefault("subscription_groups", []).append(
                {"subscription_group_id": item.target, "subscription_state": item.state}
            )
        else:
            obj.attributes[item.kind] = item.state
        obj.row_ids.append(item.id)
    for external_id, email in (creates or {}).items():
        obj = object_for("external_id", external_id)
        obj.attributes["_update_existing_only"] = False
        if email:
            obj.attributes.setdefault("email", email)
        obj.creates_user = True
    return list(objects.values())


def settable_by_group_call(item: OutboxItem) -> bool:
    """``/subscription/status/set`` takes external ids for any group, emails only for email groups;
    an email-identified SMS/WhatsApp/push choice goes through ``/users/track`` instead."""
    return item.identifier_type == "external_id" or (
        item.identifier_type == "email" and item.channel in (None, "email")
    )


def backoff_seconds(
    attempts: int,
    rand: Callable[[], float],
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempts-1)))."""
    ceiling = min(cap, base * (2.0 ** max(0, attempts - 1)))
    return max(0.0, min(1.0, rand())) * ceiling


def retry_delay(attempts: int, retry_after: float | None, rand: Callable[[], float]) -> float:
    """Never sooner than Braze asked (Retry-After / X-RateLimit-Reset), else the backoff."""
    return max(retry_after or 0.0, backoff_seconds(attempts, rand))
