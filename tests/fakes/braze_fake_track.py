"""POST /users/track in the Braze fake: per-object validation, partial errors, attribute semantics.

Shapes and rules follow braze_api.md §1; error ``type`` sentences are the ones RudderStack's mocks
and Braze's error list use where known, otherwise plain sentences naming the Braze error code.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any

from tests.fakes.braze_fake_state import FakeWorkspace

TRACK_ARRAYS = ("attributes", "events", "purchases")
MAX_OBJECTS = 75  # per array (braze_api.md §1.3)
ALL_INVALID = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
MAX_INPUT = "Max Input Length Exceeded"
ID_REQUIRED = "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required"
ONE_PRIMARY = "Only one of 'external_id', 'braze_id' or 'user_alias' may be given per object"
BAD_EMAIL = "The value provided for the 'email' field is not a valid email."
BAD_QUANTITY = "'quantity' is not valid"
SUBSCRIBE_STATES = ("opted_in", "subscribed", "unsubscribed")
GROUP_STATES = ("subscribed", "unsubscribed")
IDENTITY_KEYS = frozenset(
    {"external_id", "user_alias", "braze_id", "_update_existing_only", "_merge_objects",
     "push_token_import"}
)  # fmt: skip
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class TrackRejected(Exception):
    """The whole request fails (400) before any object is looked at."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.body = body


def _valid_time(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _identity_error(obj: dict[str, Any]) -> str | None:
    primaries = [k for k in ("external_id", "user_alias", "braze_id") if obj.get(k) is not None]
    if len(primaries) > 1:
        return ONE_PRIMARY
    external_id = obj.get("external_id")
    if external_id is not None:
        if not isinstance(external_id, str) or not external_id:
            return "'external_id' must be a non-empty string"
        if len(external_id.encode()) > 987:
            return "'external_id' is too large (EXTERNAL_USER_ID_TOO_LARGE)"
    alias = obj.get("user_alias")
    if alias is not None and not (
        isinstance(alias, dict)
        and isinstance(alias.get("alias_name"), str)
        and isinstance(alias.get("alias_label"), str)
    ):
        return "'user_alias' needs string 'alias_name' and 'alias_label'"
    anonymous_push = obj.get("push_token_import") and obj.get("push_tokens")
    if not primaries and not obj.get("email") and not obj.get("phone") and not anonymous_push:
        return ID_REQUIRED
    email = obj.get("email")
    if email is not None and not (isinstance(email, str) and EMAIL_RE.match(email)):
        return BAD_EMAIL
    return None


def _properties_error(props: Any) -> str | None:
    if props is None:
        return None
    if not isinstance(props, dict):
        return "'properties' must be an object"
    for key in props:
        if not key or len(key) > 255 or key.startswith("$") or key in ("time", "event_name"):
            return f"'properties' has an invalid or reserved key '{key}'"
    return None


def _attribute_error(obj: dict[str, Any], ws: FakeWorkspace) -> str | None:
    for key, code in (("email_subscribe", "EMAIL"), ("push_subscribe", "PUSH")):
        if obj.get(key) is not None and obj[key] not in SUBSCRIBE_STATES:
            return f"The value provided for '{key}' is not valid (BAD_{code}_SUBSCRIPTION_STATE)"
    groups = obj.get("subscription_groups")
    if groups is None:
        return None
    if not isinstance(groups, list):
        return "'subscription_groups' must be an array (BAD_SUBSCRIPTION_GROUP_ARRAY)"
    for item in groups:
        if not isinstance(item, dict):
            return "Each subscription group must be an object (BAD_SUBSCRIPTION_GROUP_HASH)"
        group_id = item.get("subscription_group_id")
        if not isinstance(group_id, str) or (ws.strict_groups and ws.group(group_id) is None):
            return "'subscription_group_id' is not a valid group (BAD_SUBSCRIPTION_GROUP_ID)"
        if item.get("subscription_state") not in GROUP_STATES:
            return "'subscription_state' is not valid (BAD_SUBSCRIPTION_GROUP_STATE)"
    return None


def _event_error(obj: dict[str, Any]) -> str | None:
    if not isinstance(obj.get("name"), str) or not obj["name"]:
        return "'name' is required"
    if not _valid_time(obj.get("time")):
        return "'time' is not valid"
    return _properties_error(obj.get("properties"))


def _purchase_error(obj: dict[str, Any]) -> str | None:
    if not isinstance(obj.get("product_id"), str) or not obj["product_id"]:
        return "'product_id' is required"
    currency = obj.get("currency")
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
        return "'currency' is not valid"
    price = obj.get("price")
    if isinstance(price, bool) or not isinstance(price, int | float):
        return "'price' is not valid"
    quantity = obj.get("quantity")
    if quantity is not None and (
        isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100
    ):
        return BAD_QUANTITY
    if not _valid_time(obj.get("time")):
        return "'time' is not valid"
    return _properties_error(obj.get("properties"))


def object_error(array: str, obj: Any, ws: FakeWorkspace) -> str | None:
    """Why Braze would reject this one object, or None."""
    if not isinstance(obj, dict):
        return "Each object must be a JSON object"
    problem = _identity_error(obj)
    if problem is None and array == "attributes":
        problem = _attribute_error(obj, ws)
    if problem is None and array == "events":
        problem = _event_error(obj)
    if problem is None and array == "purchases":
        problem = _purchase_error(obj)
    return problem


def resolve_user(ws: FakeWorkspace, array: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The profile an object addresses, created when Braze would create it (braze_api.md §1.1)."""
    update_only = obj.get("_update_existing_only")
    if obj.get("external_id") is not None:
        user = ws.find_external_id(obj["external_id"])
        if user is None and update_only is not True:
            user = ws.new_user(obj["external_id"])
        return user
    if obj.get("user_alias") is not None:
        alias = obj["user_alias"]
        user = ws.find_alias(alias["alias_name"], alias["alias_label"])
        # Alias objects only create profiles from attributes with an explicit false.
        if user is None and array == "attributes" and update_only is False:
            user = ws.new_user()
            user["user_aliases"].append(
                {"alias_name": alias["alias_name"], "alias_label": alias["alias_label"]}
            )
        return user
    if obj.get("braze_id") is not None:
        return ws.find_braze_id(obj["braze_id"])
    for field in ("email", "phone"):
        if obj.get(field):
            user = ws.pick_by(field, obj[field])
            if user is None and update_only is not True:
                user = ws.new_user()
                user["attributes"][field] = obj[field]
                ws.note_contact(user)
            return user
    return None


def _dedupe(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def _deep_merge(target: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _object_array(current: Any, ops: dict[str, Any], merge: bool) -> list[Any]:
    """$add / $remove / $update on an array of objects (braze_api.md §1.2)."""
    items = [o for o in current if isinstance(o, dict)] if isinstance(current, list) else []
    for spec in ops.get("$remove") or []:
        key, value = spec.get("$identifier_key"), spec.get("$identifier_value")
        items = [o for o in items if o.get(key) != value]
    for spec in ops.get("$update") or []:
        key, value = spec.get("$identifier_key"), spec.get("$identifier_value")
        new = spec.get("$new_object") or {}
        for index, item in enumerate(items):
            if item.get(key) == value:
                items[index] = _deep_merge(item, new) if merge else {key: value, **new}
    items.extend(copy.deepcopy(o) for o in ops.get("$add") or [])
    return items


def apply_value(attrs: dict[str, Any], key: str, value: Any, merge: bool, max_len: int) -> None:
    """One attribute write: set, null removes, inc, add/remove, nested objects, $time."""
    if value is None:
        attrs.pop(key, None)
        return
    if isinstance(value, dict) and set(value) == {"inc"}:
        current = attrs.get(key)
        base = current if isinstance(current, int | float) and not isinstance(current, bool) else 0
        attrs[key] = base + value["inc"]
    elif isinstance(value, dict) and value and set(value) <= {"add", "remove"}:
        current = attrs.get(key)
        items = list(current) if isinstance(current, list) else []
        for item in value.get("add") or []:
            if item in items:
                items.remove(item)  # a value already present moves to the end
            items.append(item)
        removed = value.get("remove") or []
        attrs[key] = [i for i in items if i not in removed][-max_len:]
    elif isinstance(value, dict) and value and set(value) <= {"$add", "$remove", "$update"}:
        attrs[key] = _object_array(attrs.get(key), value, merge)
    elif isinstance(value, dict) and set(value) == {"$time"}:
        attrs[key] = value["$time"]
    elif isinstance(value, dict):
        current = attrs.get(key)
        if merge and isinstance(current, dict):
            _deep_merge(current, value)
        else:
            attrs[key] = copy.deepcopy(value)
    elif isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        attrs[key] = _dedupe(value)[:max_len]
    else:
        attrs[key] = copy.deepcopy(value)


def apply_attributes(ws: FakeWorkspace, user: dict[str, Any], obj: dict[str, Any]) -> None:
    attrs = user["attributes"]
    merge = obj.get("_merge_objects") is True
    for key, value in obj.items():
        if key in IDENTITY_KEYS or key == "subscription_groups":
            continue
        apply_value(attrs, key, value, merge, ws.array_max_length)
    ws.note_contact(user)
    email = attrs.get("email")
    if "email_subscribe" in obj and isinstance(email, str):
        ws.note_email_subscribe(email, str(obj["email_subscribe"]))
    for item in obj.get("subscription_groups") or []:
        ws.set_user_group_state(user, item["subscription_group_id"], item["subscription_state"])
    ws.touch(user)


def _record(obj: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: copy.deepcopy(obj[k]) for k in keys if k in obj}


def handle_track(ws: FakeWorkspace, body: Any) -> tuple[int, dict[str, Any]]:
    """Validate every object, apply the valid ones, answer with counts and errors[]."""
    if not isinstance(body, dict):
        raise TrackRejected({"message": ALL_INVALID, "errors": []})
    arrays: dict[str, list[Any]] = {}
    for name in TRACK_ARRAYS:
        if name in body:
            if not isinstance(body[name], list):
                raise TrackRejected({"message": f"'{name}' must be an array"})
            arrays[name] = body[name]
    if any(len(items) > MAX_OBJECTS for items in arrays.values()):
        raise TrackRejected({"message": MAX_INPUT})
    cap = ws.track_combined_cap
    if cap is not None and sum(len(items) for items in arrays.values()) > cap:
        raise TrackRejected({"message": MAX_INPUT})
    errors: list[dict[str, Any]] = []
    valid: dict[str, list[dict[str, Any]]] = {name: [] for name in arrays}
    for name, items in arrays.items():
        for index, obj in enumerate(items):
            problem = object_error(name, obj, ws)
            if problem:
                errors.append({"type": problem, "input_array": name, "index": index})
            else:
                valid[name].append(obj)
    if not any(valid.values()):
        raise TrackRejected({"message": ALL_INVALID, "errors": errors})
    # Braze processes attributes, then events, then purchases (braze_api.md §1.3).
    for obj in valid.get("attributes", []):
        user = resolve_user(ws, "attributes", obj)
        if user is not None:
            apply_attributes(ws, user, obj)
    for name, keys in (
        ("events", ("name", "time", "app_id", "properties")),
        ("purchases", ("product_id", "currency", "price", "quantity", "time", "properties")),
    ):
        for obj in valid.get(name, []):
            user = resolve_user(ws, name, obj)
            if user is not None:
                user[name].append(_record(obj, keys))
                ws.touch(user)
    answer: dict[str, Any] = {"message": "success"}
    for name in arrays:
        answer[f"{name}_processed"] = len(valid[name])
    if errors:
        answer["errors"] = errors
    return 201, answer
