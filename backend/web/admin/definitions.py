"""Forms to the definitions ``optline apply`` reads, and service errors back onto their fields.

A definition has exactly the shape of one entry of the configuration file (PRODUCT 1.4). Secrets
are never put into a form: an empty secret on edit is sent as ``<redacted>``, which the
configuration service reads as "keep the stored value".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wtforms import Field, FieldList, Form

from backend.domain.config_specs import REDACTED
from backend.domain.errors import FieldError
from backend.web.admin.forms import ConfigForm

PATH_RE = re.compile(r"^(?P<name>[A-Za-z_]\w*)(?:\[(?P<index>\d+)\])?(?:\.(?P<rest>.+))?$")

Definition = dict[str, Any]


@dataclass
class Built:
    """A definition, and for each list in it the form row each of its items came from."""

    definition: Definition
    rows: dict[str, list[int]] = field(default_factory=dict)


def split_lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def split_words(text: str | None) -> list[str]:
    return [word.strip() for word in re.split(r"[,\s]+", text or "") if word.strip()]


def _or_none(value: str | None) -> str | None:
    return value or None


# --- Braze connections -------------------------------------------------------------------------

S3_FIELDS = ("bucket", "prefix", "region", "endpoint_url", "access_key_id")


def connection_form_data(obj: Mapping[str, Any]) -> dict[str, Any]:
    s3 = obj.get("s3") or {}
    data = {
        "code": obj.get("code", ""),
        "name": obj.get("name", ""),
        "rest_endpoint": obj.get("rest_endpoint", ""),
        "identity": obj.get("identity") or "external_id",
        "sandbox": bool(obj.get("sandbox")),
        "create_missing_users": bool(obj.get("create_missing_users", True)),
        "budget_share": obj.get("budget_share"),
    }
    data.update({f"s3_{name}": s3.get(name) or "" for name in S3_FIELDS})
    return data


def connection_definition(form: ConfigForm, code: str, stored: Mapping[str, Any] | None) -> Built:
    f = form
    stored_s3 = (stored or {}).get("s3") or {}
    s3_values = {name: f[f"s3_{name}"].data or "" for name in S3_FIELDS}
    s3_secret = f.s3_secret_access_key.data or ""
    s3: dict[str, Any] | None = None
    if any(s3_values.values()) or s3_secret:
        s3 = {name: _or_none(value) for name, value in s3_values.items()}
        if s3_secret:
            s3["secret_access_key"] = s3_secret
        elif stored_s3.get("secret_access_key") and s3["access_key_id"]:
            s3["secret_access_key"] = REDACTED
    definition: Definition = {
        "code": code,
        "name": f.name.data,
        "rest_endpoint": f.rest_endpoint.data,
        "api_key": f.api_key.data or (REDACTED if stored is not None else None),
        "identity": f.identity.data,
        "sandbox": bool(f.sandbox.data),
        "create_missing_users": bool(f.create_missing_users.data),
        "s3": s3,
    }
    if f.budget_share.data is not None:
        definition["budget_share"] = f.budget_share.data
    return Built(definition)


# --- Properties --------------------------------------------------------------------------------


def property_form_data(obj: Mapping[str, Any]) -> dict[str, Any]:
    shown = obj.get("subscriptions")
    theme = obj.get("theme") or {}
    return {
        "code": obj.get("code", ""),
        "name": obj.get("name", ""),
        "allowed_origins": "\n".join(obj.get("allowed_origins") or []),
        "signing_keys": [
            {
                "kid": key.get("kid", ""),
                "algorithm": key.get("algorithm") or "HS256",
                "public_key": key.get("public_key") or "",
            }
            for key in obj.get("signing_keys") or []
        ],
        "identity_capture": [
            {"source": item.get("source", ""), "key": item.get("key") or ""}
            for item in obj.get("identity_capture") or []
        ],
        "email_verification": bool(obj.get("email_verification")),
        "languages": ", ".join(obj.get("languages") or []),
        "subscriptions_mode": "all" if shown is None else "some",
        "subscriptions": list(shown or []),
        "theme": "\n".join(f"{name}: {value}" for name, value in theme.items()),
        "token_max_ttl": obj.get("token_max_ttl"),
    }


def _signing_keys(
    form: ConfigForm, stored: Mapping[str, Any] | None
) -> tuple[list[Any], list[int]]:
    kept_secrets = {
        key.get("kid") for key in (stored or {}).get("signing_keys") or [] if key.get("secret")
    }
    keys: list[Any] = []
    rows: list[int] = []
    for index, entry in enumerate(form.signing_keys):
        row = entry.form
        if row.remove.data or not (row.kid.data or row.secret.data or row.public_key.data):
            continue
        if row.algorithm.data == "HS256":
            secret = row.secret.data or (REDACTED if row.kid.data in kept_secrets else None)
            keys.append({"kid": row.kid.data, "algorithm": "HS256", "secret": secret})
        else:
            keys.append(
                {
                    "kid": row.kid.data,
                    "algorithm": row.algorithm.data,
                    "public_key": row.public_key.data or None,
                }
            )
        rows.append(index)
    return keys, rows


def property_definition(form: ConfigForm, code: str, stored: Mapping[str, Any] | None) -> Built:
    f = form
    keys, key_rows = _signing_keys(form, stored)
    capture: list[dict[str, Any]] = []
    capture_rows: list[int] = []
    for index, entry in enumerate(f.identity_capture):
        row = entry.form
        if not (row.source.data or row.key.data):
            continue
        item = {"source": row.source.data or None}
        if row.key.data:
            item["key"] = row.key.data
        capture.append(item)
        capture_rows.append(index)
    theme = {}
    for line in split_lines(f.theme.data):
        name, _, value = line.partition(":")
        theme[name.strip()] = value.strip()
    definition: Definition = {
        "code": code,
        "name": f.name.data,
        "allowed_origins": split_lines(f.allowed_origins.data),
        "signing_keys": keys,
        "identity_capture": capture,
        "email_verification": bool(f.email_verification.data),
        "languages": split_words(f.languages.data) or None,
        "subscriptions": list(f.subscriptions.data or [])
        if f.subscriptions_mode.data == "some"
        else None,
        "theme": theme,
    }
    if f.token_max_ttl.data is not None:
        definition["token_max_ttl"] = f.token_max_ttl.data
    return Built(definition, {"signing_keys": key_rows, "identity_capture": capture_rows})


# --- Subscriptions -----------------------------------------------------------------------------


def subscription_form_data(obj: Mapping[str, Any]) -> dict[str, Any]:
    names: Mapping[str, str] = obj.get("name") or {}
    descriptions: Mapping[str, str] = obj.get("description") or {}
    languages = list(dict.fromkeys([*names, *descriptions]))
    return {
        "code": obj.get("code", ""),
        "position": obj.get("position"),
        "texts": [
            {"language": la, "name": names.get(la, ""), "description": descriptions.get(la, "")}
            for la in languages
        ],
        "channels": [
            {
                "channel": ch.get("channel", ""),
                "connection": ch.get("connection", ""),
                "subscription_group_id": ch.get("subscription_group_id", ""),
            }
            for ch in obj.get("channels") or []
        ],
    }


def subscription_definition(form: ConfigForm, code: str, stored: Mapping[str, Any] | None) -> Built:
    names: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    for entry in form.texts:
        row = entry.form
        if row.name.data:
            names[row.language.data] = row.name.data
        if row.description.data:
            descriptions[row.language.data] = row.description.data
    channels: list[dict[str, Any]] = []
    rows: list[int] = []
    for index, entry in enumerate(form.channels):
        row = entry.form
        if row.remove.data or not (row.channel.data or row.subscription_group_id.data):
            continue
        channels.append(
            {
                "channel": row.channel.data or None,
                "connection": row.connection.data or None,
                "subscription_group_id": row.subscription_group_id.data or None,
            }
        )
        rows.append(index)
    definition: Definition = {
        "code": code,
        "name": names,
        "description": descriptions,
        "channels": channels,
    }
    if form.position.data is not None:
        definition["position"] = form.position.data
    return Built(definition, {"channels": rows})


# --- Service errors onto fields ----------------------------------------------------------------


def _text_row(form: Form, language: str) -> Any:
    for entry in form.texts:
        if entry.form.language.data == language:
            return entry.form
    return None


def resolve_path(form: Form, path: str, built: Built, prefix: str = "") -> Field | str | None:
    """The field a service error path points at, a list's id for the list as a whole, or None.

    Paths nest (``import_goals[0].mappings[1].strategy``): a list row is found through
    ``built.rows`` (keyed by the list's path, e.g. ``import_goals[0].mappings``) and the rest of
    the path is resolved inside that row. ``a.b`` names the field ``a_b`` when there is one.
    """
    match = PATH_RE.match(path)
    if match is None:
        return None
    name, index, rest = match.group("name"), match.group("index"), match.group("rest")
    sub = re.split(r"[.\[]", rest, maxsplit=1)[0] if rest else None
    fields = form._fields
    if name not in fields:
        if sub and f"{name}_{sub}" in fields:
            return fields[f"{name}_{sub}"]
        grouped = [fld for key, fld in fields.items() if key.startswith(f"{name}_")]
        if grouped:
            # A group of fields: at the top its box, inside a list row its first field.
            return grouped[0] if prefix else name
    if name in ("name", "description") and "texts" in fields:
        row = _text_row(form, sub or "") if sub else None
        return row[name] if row is not None else "texts"
    target = fields.get(name)
    if isinstance(target, FieldList):
        key = prefix + name
        rows = built.rows.get(key, [])
        if index is None or int(index) >= len(rows) or not rest:
            return str(target.id)
        entry_form = target.entries[rows[int(index)]].form
        found = resolve_path(entry_form, rest, built, f"{key}[{index}].")
        return found if found is not None else str(target.id)
    return target


def attach_errors(form: ConfigForm, errors: Iterable[FieldError], built: Built) -> None:
    """Show each service error at the top (path-named) and beside the field it is about."""
    for error in errors:
        target = resolve_path(form, error.path, built) if error.path else None
        anchor: str | None = None
        if isinstance(target, Field):
            target.errors = [*target.errors, error.message]
            anchor = target.id
        elif isinstance(target, str):
            form.group_errors.setdefault(target, []).append(str(error))
            anchor = f"group-{target}"
        form.summary_errors.append((str(error), anchor))


FormData = Callable[[Mapping[str, Any]], dict[str, Any]]
DefinitionBuilder = Callable[[ConfigForm, str, Mapping[str, Any] | None], Built]
