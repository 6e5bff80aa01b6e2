"""Endpoint handlers of the Braze fake, one per documented endpoint, plus the route table.

A handler takes the workspace and the parsed call and returns (status, body); it raises ``Reject``
for a 4xx. Shapes, limits and messages follow braze_api.md; section numbers are noted per handler.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from werkzeug.datastructures import MultiDict

from tests.fakes.braze_fake_state import STATE_WORDS, FakeWorkspace
from tests.fakes.braze_fake_track import TrackRejected, handle_track

MAX_IDS = 50
MAX_IDS_MESSAGE = "The max number of ids per request was exceeded"
MAX_ALIAS_MESSAGE = "The max number of external_ids and aliases per request was exceeded"
EMAIL_AND_PHONE = "Either an email address or a phone number should be provided, but not both."
ONE_DELETE_KIND = (
    "Only one of external_ids, user_aliases, braze_ids, email_addresses, or phone_numbers can be "
    "included in a single request."
)
ONE_EXPORT_KIND = (
    "Only one of external_ids/user_aliases, device_id, braze_id, email_address or phone can be "
    "included per request."
)
PRIORITIES = ("identified", "unidentified", "most_recently_updated")
CHANNEL_OF = {"email": "email", "phone": "sms"}


class Reject(Exception):
    """A 4xx answer with Braze's error body."""

    def __init__(self, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, **extra}


@dataclass
class Call:
    """One parsed request as handlers see it."""

    method: str
    path: str
    args: MultiDict[str, str]
    body: Any
    # Work to run after the workspace lock is released (the segment-export hook).
    after: list[Callable[[], None]] = field(default_factory=list)


Reply = tuple[int, dict[str, Any]]


def _as_list(value: Any, what: str) -> list[Any]:
    """Braze takes one value or an array for many id fields."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise Reject(f"'{what}' must be a string or an array of strings")


def _query_ids(args: MultiDict[str, str], name: str) -> list[str]:
    """``name=a`` and ``name[]=a&name[]=b`` (braze_api.md §2.3)."""
    return [v for v in args.getlist(name) + args.getlist(f"{name}[]") if v]


def _int_arg(args: MultiDict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Reject(f"'{name}' must be an integer") from None
    if not low <= value <= high:
        raise Reject(f"'{name}' must be between {low} and {high}")
    return value


def _object_body(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise Reject("The request body must be a JSON object")
    return call.body


# -- users ---------------------------------------------------------------------------------


def users_track(ws: FakeWorkspace, call: Call) -> Reply:
    """§1."""
    try:
        return handle_track(ws, call.body)
    except TrackRejected as exc:
        raise Reject(**exc.body) from None


def users_delete(ws: FakeWorkspace, call: Call) -> Reply:
    """§3: up to 50 identifiers, one kind per request (newest text; flag for the old example)."""
    body = _object_body(call)
    kinds = [k for k in ("external_ids", "user_aliases", "braze_ids", "email_addresses",
                         "phone_numbers") if body.get(k)]  # fmt: skip
    if not kinds:
        raise Reject("No users to delete: give external_ids, user_aliases, braze_ids, "
                     "email_addresses or phone_numbers")  # fmt: skip
    if len(kinds) > 1 and not ws.allow_mixed_delete:
        raise Reject(ONE_DELETE_KIND)
    total = sum(len(body[k]) if isinstance(body[k], list) else 1 for k in kinds)
    if total > MAX_IDS:
        raise Reject(MAX_ALIAS_MESSAGE)
    for kind in kinds:
        if not isinstance(body[kind], list):
            raise Reject(f"'{kind}' must be an array")
    doomed: list[dict[str, Any]] = []
    for external_id in _as_list(body.get("external_ids"), "external_ids"):
        doomed += [u for u in [ws.find_external_id(external_id)] if u]
    for braze_id in _as_list(body.get("braze_ids"), "braze_ids"):
        doomed += [u for u in [ws.find_braze_id(braze_id)] if u]
    for alias in body.get("user_aliases") or []:
        if not isinstance(alias, dict):
            raise Reject("Each user alias needs 'alias_name' and 'alias_label'")
        doomed += [
            u
            for u in [ws.find_alias(alias.get("alias_name", ""), alias.get("alias_label", ""))]
            if u
        ]
    for kind, field_name in (("email_addresses", "email"), ("phone_numbers", "phone")):
        for item in body.get(kind) or []:
            doomed += _pick_for_delete(ws, item, field_name)
    for user in doomed:
        ws.drop_user(user)
    return 201, {"deleted": total, "message": "success"}


def _pick_for_delete(ws: FakeWorkspace, item: Any, field_name: str) -> list[dict[str, Any]]:
    """Email/phone deletes narrow matches by ``prioritization``; still several ⇒ none."""
    order = item.get("prioritization") if isinstance(item, dict) else None
    if not isinstance(item, dict) or not isinstance(item.get(field_name), str):
        raise Reject(f"Each entry needs '{field_name}' and 'prioritization'")
    if not isinstance(order, list) or not order or any(p not in PRIORITIES for p in order):
        raise Reject(f"'prioritization' must list {', '.join(PRIORITIES)}")
    if "identified" in order and "unidentified" in order:
        raise Reject("'identified' and 'unidentified' cannot both be used")
    matches = ws.find_all(field_name, item[field_name])
    for rule in order:
        if rule == "identified":
            matches = [u for u in matches if u["external_id"] is not None]
        elif rule == "unidentified":
            matches = [u for u in matches if u["external_id"] is None]
        elif matches:
            matches = [max(matches, key=lambda u: u["updated_at"])]
    return matches if len(matches) == 1 else []


def users_alias_new(ws: FakeWorkspace, call: Call) -> Reply:
    """§4: with external_id the alias joins that user (silently nothing if absent)."""
    aliases = _object_body(call).get("user_aliases")
    if not isinstance(aliases, list) or not aliases:
        raise Reject("'user_aliases' must be a non-empty array")
    if len(aliases) > MAX_IDS:
        raise Reject(MAX_ALIAS_MESSAGE)
    for alias in aliases:
        if not isinstance(alias, dict) or not all(
            isinstance(alias.get(k), str) and alias[k] for k in ("alias_name", "alias_label")
        ):
            raise Reject("Each user alias needs 'alias_name' and 'alias_label'")
    for alias in aliases:
        entry = {"alias_name": alias["alias_name"], "alias_label": alias["alias_label"]}
        if alias.get("external_id") is not None:
            user = ws.find_external_id(alias["external_id"])
            if user is not None:
                # One alias_name per alias_label on a user (braze_api.md §4).
                user["user_aliases"] = [
                    a for a in user["user_aliases"] if a["alias_label"] != entry["alias_label"]
                ] + [entry]
                ws.touch(user)
        elif ws.find_alias(entry["alias_name"], entry["alias_label"]) is None:
            ws.new_user()["user_aliases"].append(entry)
    return 201, {"aliases_processed": len(aliases), "message": "success"}


def users_export_ids(ws: FakeWorkspace, call: Call) -> Reply:
    """§5: external_ids/user_aliases (≤50 together) or one single identifier."""
    body = _object_body(call)
    fields = body.get("fields_to_export")
    if fields is None and ws.require_fields_to_export:
        raise Reject("'fields_to_export' is required")
    if fields is not None and (
        not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
    ):
        raise Reject("'fields_to_export' must be an array of strings")
    ids = _as_list(body.get("external_ids"), "external_ids")
    aliases = body.get("user_aliases") or []
    if not isinstance(aliases, list):
        raise Reject("'user_aliases' must be an array")
    if len(ids) + len(aliases) > MAX_IDS:
        raise Reject(MAX_ALIAS_MESSAGE)
    singles = {
        k: body[k] for k in ("device_id", "braze_id", "email_address", "phone") if body.get(k)
    }
    kinds = int(bool(ids or aliases)) + len(singles)
    if kinds == 0:
        raise Reject("Give external_ids, user_aliases, device_id, braze_id, email_address or phone")
    if kinds > 1 and not ws.allow_multiple_export_identifiers:
        raise Reject(ONE_EXPORT_KIND)
    found: list[dict[str, Any]] = []
    invalid: list[str] = []
    for external_id in ids:
        user = ws.find_external_id(external_id)
        if user is None:
            invalid.append(external_id)
        else:
            found.append(user)
    for alias in aliases:
        if isinstance(alias, dict):
            user = ws.find_alias(alias.get("alias_name", ""), alias.get("alias_label", ""))
            found += [user] if user else []
    if "braze_id" in singles:
        found += [u for u in [ws.find_braze_id(singles["braze_id"])] if u]
    if "email_address" in singles:
        found += ws.find_all("email", singles["email_address"])
    if "phone" in singles:
        found += ws.find_all("phone", singles["phone"])
    unique = list({u["braze_id"]: u for u in found}.values())
    answer: dict[str, Any] = {
        "message": "success",
        "users": [ws.export_object(u, fields) for u in unique],
    }
    if invalid:
        answer["invalid_user_ids"] = invalid
    return 201, answer


def users_export_segment(ws: FakeWorkspace, call: Call) -> Reply:
    """§6: records the export; the hook (if set) writes files as Braze would to the bucket."""
    body = _object_body(call)
    segment_id = body.get("segment_id")
    if not isinstance(segment_id, str) or not segment_id:
        raise Reject("'segment_id' is required")
    if ws.segment(segment_id) is None:
        raise Reject(f"Segment '{segment_id}' was not found")
    fields = body.get("fields_to_export")
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise Reject("'fields_to_export' is required and must be an array of strings")
    custom = body.get("custom_attributes_to_export")
    if custom is not None and (not isinstance(custom, list) or len(custom) > 500):
        raise Reject("'custom_attributes_to_export' must be an array of at most 500 names")
    output_format = body.get("output_format", "zip")
    if output_format not in ("zip", "gzip"):
        raise Reject("'output_format' must be 'zip' or 'gzip'")
    storage = ws.export_storage_configured or ws.on_segment_export is not None
    if output_format == "gzip" and not storage:
        raise Reject("'gzip' output is only available with your own cloud storage credentials")
    prefix = f"{uuid.uuid4()}-{int(ws.clock())}"
    exported_custom = None if "custom_attributes" in fields else custom
    ws.record_segment_export(
        {
            "segment_id": segment_id,
            "object_prefix": prefix,
            "body": body,
            "users": ws.export_segment_users(segment_id, fields, exported_custom),
            "at": ws.clock(),
        }
    )
    answer: dict[str, Any] = {"message": "success", "object_prefix": prefix}
    if not storage:
        answer["url"] = f"{ws.base_url}/_fake/segment-exports/{prefix}.zip"
    hook = ws.on_segment_export
    if hook is not None:
        call.after.append(lambda: hook(segment_id, prefix, dict(body)))
    return 201, answer


# -- subscription groups ---------------------------------------------------------------------


def _group_ids(ws: FakeWorkspace, group_id: Any, state: Any, ids: dict[str, list[str]]) -> None:
    """Shared checks of v1 and v2 set (braze_api.md §2.1, §2.2)."""
    if not isinstance(group_id, str) or not group_id:
        raise Reject("'subscription_group_id' is required")
    if state not in STATE_WORDS:
        raise Reject("'subscription_state' must be 'subscribed' or 'unsubscribed'")
    if ids["email"] and ids["phone"]:
        raise Reject(EMAIL_AND_PHONE)
    if not any(ids.values()):
        raise Reject("Give external_id, email or phone")
    if any(len(values) > MAX_IDS for values in ids.values()):
        raise Reject(MAX_IDS_MESSAGE)
    declared = ws.group(group_id)
    if declared is None and ws.strict_groups:
        raise Reject(f"'{group_id}' is not a valid subscription group id")
    channel = declared["channel"] if declared else None
    if channel == "email" and ids["phone"]:
        raise Reject("Phone numbers cannot be used with an email subscription group")
    if channel not in (None, "email") and ids["email"]:
        raise Reject("Email addresses cannot be used with an SMS subscription group")


def _apply_group(ws: FakeWorkspace, group_id: str, state: str, ids: dict[str, list[str]]) -> None:
    for kind, values in ids.items():
        for value in values:
            ws.set_group_state(group_id, state, kind, value)


def subscription_status_set(ws: FakeWorkspace, call: Call) -> Reply:
    """§2.1: 201 {"message": "success"}."""
    body = _object_body(call)
    ids = {k: _as_list(body.get(k), k) for k in ("external_id", "email", "phone")}
    _group_ids(ws, body.get("subscription_group_id"), body.get("subscription_state"), ids)
    _apply_group(ws, body["subscription_group_id"], body["subscription_state"], ids)
    return 201, {"message": "success"}


def subscription_status_set_v2(ws: FakeWorkspace, call: Call) -> Reply:
    """§2.2: every group object is checked before any is applied."""
    groups = _object_body(call).get("subscription_groups")
    if not isinstance(groups, list) or not groups:
        raise Reject("'subscription_groups' must be a non-empty array")
    plans = []
    for group in groups:
        if not isinstance(group, dict):
            raise Reject("Each subscription group must be an object")
        ids = {
            kind: _as_list(group.get(key), key)
            for kind, key in (
                ("external_id", "external_ids"),
                ("email", "emails"),
                ("phone", "phones"),
            )
        }
        _group_ids(ws, group.get("subscription_group_id"), group.get("subscription_state"), ids)
        plans.append((group["subscription_group_id"], group["subscription_state"], ids))
    for group_id, state, ids in plans:
        _apply_group(ws, group_id, state, ids)
    return 201, {"message": "success"}


def subscription_status_get(ws: FakeWorkspace, call: Call) -> Reply:
    """§2.3: capitalised values; external ids win over email/phone."""
    group_id = call.args.get("subscription_group_id")
    if not group_id:
        raise Reject("'subscription_group_id' is required")
    ids = {k: _query_ids(call.args, k) for k in ("external_id", "email", "phone")}
    if any(len(v) > MAX_IDS for v in ids.values()):
        raise Reject(MAX_IDS_MESSAGE)
    if ids["external_id"]:
        kind = "external_id"
    elif ids["email"] and ids["phone"]:
        raise Reject(EMAIL_AND_PHONE)
    elif ids["email"] or ids["phone"]:
        kind = "email" if ids["email"] else "phone"
    else:
        raise Reject("Give external_id, email or phone")
    status = {
        value: STATE_WORDS.get(ws.lookup_group_state(group_id, **{kind: value}) or "", "Unknown")
        for value in ids[kind]
    }
    return 200, {"status": status, "message": "success"}


def subscription_user_status(ws: FakeWorkspace, call: Call) -> Reply:
    """§2.4: the per-user ``users`` shape by default; the older doc shape behind a flag."""
    ids = {k: _query_ids(call.args, k) for k in ("external_id", "email", "phone")}
    if not any(ids.values()):
        raise Reject("Give external_id, email or phone")
    if any(len(v) > MAX_IDS for v in ids.values()):
        raise Reject(MAX_IDS_MESSAGE)
    limit = _int_arg(call.args, "limit", 100, 1, 100)
    offset = _int_arg(call.args, "offset", 0, 0, 10**9)
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for kind, values in ids.items():
        for value in values:
            if kind == "external_id":
                found = ws.find_external_id(value)
                users = [found] if found else []
            else:
                users = ws.find_all(kind, value)
            for user in users:
                if user["braze_id"] not in seen:
                    seen.add(user["braze_id"])
                    entries.append(_user_entry(ws, user))
            orphans = ws.orphan_groups(kind, value)
            if not users and orphans:
                entries.append(
                    {"external_id": None, "email": None, "phone": None, kind: value,
                     "subscription_groups": [ws.describe_group(g, s) for g, s in orphans.items()]}
                )  # fmt: skip
    page = entries[offset : offset + limit]
    if ws.subscription_user_status_shape == "docs":
        groups = page[0]["subscription_groups"] if page else []
        return 200, {
            "success": True,
            "subscription_groups": [
                {"subscription_group_id": g["id"], "subscription_status": g["status"].lower()}
                for g in groups
            ],
        }
    return 200, {"users": page, "total_count": len(entries), "message": "success"}


def _user_entry(ws: FakeWorkspace, user: dict[str, Any]) -> dict[str, Any]:
    return {
        "external_id": user["external_id"],
        "email": user["attributes"].get("email"),
        "phone": user["attributes"].get("phone"),
        "subscription_groups": [
            ws.describe_group(g, s) for g, s in user["subscription_groups"].items()
        ],
    }


# -- segments and email ----------------------------------------------------------------------


def segments_list(ws: FakeWorkspace, call: Call) -> Reply:
    """§8.3: pages of 100, oldest first unless sort_direction=desc."""
    page = _int_arg(call.args, "page", 0, 0, 10**9)
    segments = ws.segment_list()
    if call.args.get("sort_direction") == "desc":
        segments.reverse()
    chosen = segments[page * 100 : (page + 1) * 100]
    return 200, {
        "message": "success",
        "segments": [
            {"id": s["id"], "name": s["name"], "analytics_tracking_enabled": False, "tags": []}
            for s in chosen
        ],
    }


def _day(args: MultiDict[str, str], name: str) -> date | None:
    raw = args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Reject(f"'{name}' must be a date as YYYY-MM-DD") from None


def email_unsubscribes(ws: FakeWorkspace, call: Call) -> Reply:
    """§7.1: needs end_date and one of email/start_date; limit ≤ 500; newest first by default."""
    start, end, email = (
        _day(call.args, "start_date"),
        _day(call.args, "end_date"),
        call.args.get("email"),
    )
    if end is None or (start is None and not email):
        raise Reject("Give 'end_date' and one of 'email' or 'start_date'")
    limit = _int_arg(call.args, "limit", 100, 1, 500)
    offset = _int_arg(call.args, "offset", 0, 0, 10**9)
    rows = [
        row
        for row in ws.unsubscribes()
        if (not email or row["email"] == email)
        and (start is None or date.fromisoformat(row["unsubscribed_at"][:10]) >= start)
        and date.fromisoformat(row["unsubscribed_at"][:10]) <= end
    ]
    descending = call.args.get("sort_direction", "desc") != "asc"
    rows.sort(key=lambda r: (r["unsubscribed_at"], r["email"]), reverse=descending)
    return 200, {"emails": rows[offset : offset + limit], "message": "success"}


def email_status(ws: FakeWorkspace, call: Call) -> Reply:
    """§7.2: may name addresses no profile has yet."""
    body = _object_body(call)
    emails = _as_list(body.get("email"), "email")
    if not emails:
        raise Reject("'email' is required")
    if len(emails) > MAX_IDS:
        raise Reject(MAX_IDS_MESSAGE)
    state = body.get("subscription_state")
    if state not in ("subscribed", "unsubscribed", "opted_in"):
        raise Reject("'subscription_state' must be 'subscribed', 'unsubscribed' or 'opted_in'")
    for email in emails:
        ws.set_email_state(email, state)
    return 201, {"message": "success"}


def email_blocklist(ws: FakeWorkspace, call: Call) -> Reply:
    """§7.3: /email/blocklist and its old name /email/blacklist."""
    emails = _as_list(_object_body(call).get("email"), "email")
    if not emails:
        raise Reject("'email' is required")
    if len(emails) > MAX_IDS:
        raise Reject(MAX_IDS_MESSAGE)
    for email in emails:
        ws.blocklist(email)
    return 201, {"message": "success"}


@dataclass(frozen=True)
class Route:
    handler: Callable[[FakeWorkspace, Call], Reply]
    permission: str
    bucket: str


# Permissions per braze_api.md §0.3; buckets per §0.5.
ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/users/track"): Route(users_track, "users.track", "users.track"),
    ("POST", "/users/delete"): Route(users_delete, "users.delete", "users.identity"),
    ("POST", "/users/alias/new"): Route(users_alias_new, "users.alias.new", "users.identity"),
    ("POST", "/users/export/ids"): Route(users_export_ids, "users.export.ids", "users.export.ids"),
    ("POST", "/users/export/segment"): Route(
        users_export_segment, "users.export.segment", "default"
    ),
    ("POST", "/subscription/status/set"): Route(
        subscription_status_set, "subscription.status.set", "subscription.status.set"
    ),
    ("POST", "/v2/subscription/status/set"): Route(
        subscription_status_set_v2, "subscription.status.set", "subscription.status.set"
    ),
    ("GET", "/subscription/status/get"): Route(
        subscription_status_get, "subscription.status.get", "default"
    ),
    ("GET", "/subscription/user/status"): Route(
        subscription_user_status, "subscription.groups.get", "default"
    ),
    ("GET", "/segments/list"): Route(segments_list, "segments.list", "default"),
    ("GET", "/email/unsubscribes"): Route(email_unsubscribes, "email.unsubscribe", "default"),
    ("POST", "/email/status"): Route(email_status, "email.status", "default"),
    ("POST", "/email/blocklist"): Route(email_blocklist, "email.blacklist", "default"),
    ("POST", "/email/blacklist"): Route(email_blocklist, "email.blacklist", "default"),
}
