"""The Braze fake's workspace: profiles, groups, segments and email lists, with Braze's look-ups.

Everything here runs under the fake's lock (an RLock): handlers and the inspection helpers of
``BrazeFake`` both call in. Profiles are plain dicts so tests can read them directly.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

# Fields Braze keeps outside ``custom_attributes`` (braze_api.md §1.2); what export objects show
# at the top level.
STANDARD_FIELDS = frozenset(
    {
        "first_name", "last_name", "email", "phone", "dob", "gender", "country", "home_city",
        "language", "time_zone", "email_subscribe", "push_subscribe", "current_location",
        "date_of_first_session", "date_of_last_session", "email_open_tracking_disabled",
        "email_click_tracking_disabled", "marked_email_as_spam_at", "push_tokens", "facebook",
        "twitter", "alias_name", "alias_label", "subscription_groups",
    }
)  # fmt: skip
EXPORTED_STANDARD = (
    "first_name", "last_name", "email", "phone", "dob", "gender", "country", "home_city",
    "language", "time_zone", "email_subscribe", "push_subscribe", "push_tokens",
)  # fmt: skip
STATE_WORDS = {"subscribed": "Subscribed", "unsubscribed": "Unsubscribed"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _aggregate(records: Iterable[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Export-object form of events/purchases: {name, first, last, count} (braze_api.md §5)."""
    seen: dict[str, dict[str, Any]] = {}
    for record in records:
        name = str(record[key])
        entry = seen.setdefault(name, {"name": name, "first": record["time"], "count": 0})
        entry["last"] = record["time"]
        entry["count"] += 1
    return list(seen.values())


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


class FakeWorkspace:
    """One Braze workspace in memory; ``BrazeFake`` adds the HTTP server and the test controls."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.base_url = ""
        self.on_segment_export: Callable[[str, str, dict[str, Any]], None] | None = None
        self.reset_workspace()

    def reset_workspace(self) -> None:
        """Forget every profile, group, segment and flag."""
        self._users: dict[str, dict[str, Any]] = {}
        self._groups: dict[str, dict[str, str]] = {}
        # States set for identifiers no profile has yet: (group, kind, value) -> state.
        self._orphan_states: dict[tuple[str, str, str], str] = {}
        self._segments: dict[str, dict[str, Any]] = {}
        self._unsubscribed: dict[str, str] = {}
        self._email_states: dict[str, str] = {}
        self._blocklisted: set[str] = set()
        self._segment_exports: list[dict[str, Any]] = []
        # Readings of conflicting docs (braze_api.md §9); the defaults follow the newest text.
        self.strict_groups = False
        self.allow_mixed_delete = False
        self.allow_multiple_export_identifiers = False
        self.subscription_user_status_shape = "users"  # or "docs"
        self.require_fields_to_export = True
        self.export_storage_configured = False
        self.track_combined_cap: int | None = None  # e.g. 75 for MAU contracts
        self.array_max_length = 25

    # -- profiles ----------------------------------------------------------------------------

    def new_user(self, external_id: str | None = None) -> dict[str, Any]:
        now = self.clock()
        user: dict[str, Any] = {
            "braze_id": uuid.uuid4().hex[:24],
            "external_id": external_id,
            "user_aliases": [],
            "attributes": {},
            "subscription_groups": {},
            "events": [],
            "purchases": [],
            "created_at": iso(now),
            "updated_at": now,
        }
        self._users[user["braze_id"]] = user
        if external_id is not None:
            self._adopt_orphans(user, "external_id", external_id)
        return user

    def touch(self, user: dict[str, Any]) -> None:
        user["updated_at"] = max(self.clock(), user["updated_at"] + 1e-6)

    def drop_user(self, user: dict[str, Any]) -> None:
        """Erase a profile and the states remembered for its identifiers."""
        self._users.pop(user["braze_id"], None)
        keys = [("external_id", user["external_id"])]
        for kind in ("email", "phone"):
            value = user["attributes"].get(kind)
            if isinstance(value, str) and not self.find_all(kind, value):
                keys.append((kind, value))
        for key in list(self._orphan_states):
            if (key[1], key[2]) in keys:
                del self._orphan_states[key]

    def find_external_id(self, external_id: str) -> dict[str, Any] | None:
        return next((u for u in self._users.values() if u["external_id"] == external_id), None)

    def find_braze_id(self, braze_id: str) -> dict[str, Any] | None:
        return self._users.get(braze_id)

    def find_alias(self, name: str, label: str) -> dict[str, Any] | None:
        wanted = {"alias_name": name, "alias_label": label}
        return next((u for u in self._users.values() if wanted in u["user_aliases"]), None)

    def find_all(self, field: str, value: str) -> list[dict[str, Any]]:
        """Profiles whose email or phone attribute equals value."""
        return [u for u in self._users.values() if u["attributes"].get(field) == value]

    def pick_by(self, field: str, value: str) -> dict[str, Any] | None:
        """Email/phone lookup: latest identified profile, else latest (braze_api.md §1.1)."""
        matches = sorted(self.find_all(field, value), key=lambda u: u["updated_at"], reverse=True)
        identified = [u for u in matches if u["external_id"] is not None]
        best = identified or matches
        return best[0] if best else None

    def note_contact(self, user: dict[str, Any]) -> None:
        """A profile just gained an email/phone: apply states set earlier for that address."""
        for kind in ("email", "phone"):
            value = user["attributes"].get(kind)
            if isinstance(value, str):
                self._adopt_orphans(user, kind, value)
        email = user["attributes"].get("email")
        if isinstance(email, str) and email in self._email_states:
            user["attributes"].setdefault("email_subscribe", self._email_states[email])

    def _adopt_orphans(self, user: dict[str, Any], kind: str, value: str) -> None:
        for (group, k, v), state in self._orphan_states.items():
            if k == kind and v == value:
                user["subscription_groups"].setdefault(group, state)

    # -- subscription groups -----------------------------------------------------------------

    def declare_group(self, group_id: str, channel: str, name: str | None = None) -> None:
        self._groups[group_id] = {"channel": channel, "name": name or group_id}

    def group(self, group_id: str) -> dict[str, str] | None:
        return self._groups.get(group_id)

    def set_group_state(self, group_id: str, state: str, kind: str, value: str) -> None:
        """Set by external_id, email or phone; an address updates every profile sharing it."""
        if kind == "external_id":
            found = self.find_external_id(value)
            users = [found] if found else []
        else:
            users = self.find_all(kind, value)
        for user in users:
            user["subscription_groups"][group_id] = state
            self.touch(user)
        self._orphan_states[(group_id, kind, value)] = state

    def set_user_group_state(self, user: dict[str, Any], group_id: str, state: str) -> None:
        """/users/track form: the user and every profile sharing its email (braze_api.md §1.2)."""
        user["subscription_groups"][group_id] = state
        email = user["attributes"].get("email")
        if isinstance(email, str):
            for other in self.find_all("email", email):
                other["subscription_groups"][group_id] = state

    def lookup_group_state(
        self,
        group_id: str,
        external_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> str | None:
        """Lower-case state of one identifier in one group, or None when never set."""
        for kind, value in (("external_id", external_id), ("email", email), ("phone", phone)):
            if value is None:
                continue
            if kind == "external_id":
                found = self.find_external_id(value)
                users = [found] if found else []
            else:
                users = self.find_all(kind, value)
            for user in users:
                if group_id in user["subscription_groups"]:
                    return str(user["subscription_groups"][group_id])
            return self._orphan_states.get((group_id, kind, value))
        return None

    def orphan_groups(self, kind: str, value: str) -> dict[str, str]:
        return {g: s for (g, k, v), s in self._orphan_states.items() if k == kind and v == value}

    def describe_group(self, group_id: str, state: str) -> dict[str, Any]:
        declared = self._groups.get(group_id, {})
        return {
            "id": group_id,
            "name": declared.get("name", group_id),
            "channel": declared.get("channel"),
            "status": STATE_WORDS.get(state, state.capitalize()),
        }

    # -- email lists -------------------------------------------------------------------------

    def set_email_state(self, email: str, state: str, at: float | None = None) -> None:
        """Global email state of an address, on profiles now and on ones that appear later."""
        self._email_states[email] = state
        for user in self.find_all("email", email):
            user["attributes"]["email_subscribe"] = state
            self.touch(user)
        self.note_email_subscribe(email, state, at)

    def note_email_subscribe(self, email: str, state: str, at: float | None = None) -> None:
        if state == "unsubscribed":
            self._unsubscribed.setdefault(email, iso(self.clock() if at is None else at))
        else:
            self._unsubscribed.pop(email, None)

    def blocklist(self, email: str) -> None:
        self._blocklisted.add(email)
        self.set_email_state(email, "unsubscribed")

    def unsubscribes(self) -> list[dict[str, str]]:
        return [{"email": e, "unsubscribed_at": at} for e, at in self._unsubscribed.items()]

    # -- segments and exports ----------------------------------------------------------------

    def declare_segment(self, segment_id: str, name: str, members: Iterable[str]) -> None:
        self._segments[segment_id] = {"id": segment_id, "name": name, "members": list(members)}

    def segment(self, segment_id: str) -> dict[str, Any] | None:
        return self._segments.get(segment_id)

    def segment_list(self) -> list[dict[str, Any]]:
        return list(self._segments.values())

    def export_object(
        self,
        user: dict[str, Any],
        fields: Iterable[str] | None = None,
        custom_attributes: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """A profile as /users/export/ids and segment exports show it: empty fields omitted."""
        attrs = user["attributes"]
        full: dict[str, Any] = {
            "created_at": user["created_at"],
            "external_id": user["external_id"],
            "braze_id": user["braze_id"],
            "user_aliases": copy.deepcopy(user["user_aliases"]),
            **{k: copy.deepcopy(attrs[k]) for k in EXPORTED_STANDARD if k in attrs},
            "custom_attributes": {
                k: copy.deepcopy(v) for k, v in attrs.items() if k not in STANDARD_FIELDS
            },
            "custom_events": _aggregate(user["events"], "name"),
            "purchases": _aggregate(user["purchases"], "product_id"),
            "total_revenue": round(
                sum(float(p["price"]) * int(p.get("quantity") or 1) for p in user["purchases"]), 2
            ),
        }
        if fields is not None:
            wanted = set(fields)
            full = {k: v for k, v in full.items() if k in wanted}
            if "custom_attributes" not in wanted and custom_attributes:
                names = set(custom_attributes)
                full["custom_attributes"] = {
                    k: v for k, v in attrs.items() if k in names and k not in STANDARD_FIELDS
                }
        if not user["purchases"]:
            full.pop("total_revenue", None)
        return {k: v for k, v in full.items() if not _empty(v)}

    def export_segment_users(
        self,
        segment_id: str,
        fields: Iterable[str] | None = None,
        custom_attributes: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Export objects of a segment's members; members without a profile show their id only."""
        segment = self._segments.get(segment_id)
        out: list[dict[str, Any]] = []
        for external_id in segment["members"] if segment else []:
            user = self.find_external_id(external_id)
            out.append(
                self.export_object(user, fields, custom_attributes)
                if user
                else {"external_id": external_id}
            )
        return out

    def record_segment_export(self, record: dict[str, Any]) -> None:
        self._segment_exports.append(record)

    def find_segment_export(self, object_prefix: str) -> dict[str, Any] | None:
        return next((e for e in self._segment_exports if e["object_prefix"] == object_prefix), None)
