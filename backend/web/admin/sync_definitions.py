"""Forms to the ``segments`` and ``sync_connections`` definitions of ``optline apply``, and back.

Rows left blank are not sent; every list remembers which form row each item came from
(``Built.rows``, keyed by the list's path such as ``import_goals[0].mappings``) so that a problem
the configuration service names by path lands beside its field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from wtforms import Form

from backend.domain.config_specs import REDACTED
from backend.web.admin.definitions import Built, Definition, split_lines, split_words
from backend.web.admin.forms import ConfigForm

# -- segments ---------------------------------------------------------------------------------


def rule_text(rule: Any) -> str:
    """A stored rule as the YAML the form shows (loading it gives the same rule back)."""
    if rule is None:
        return ""
    return str(yaml.safe_dump(rule, sort_keys=False, allow_unicode=True, width=100))


def segment_form_data(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "code": obj.get("code", ""),
        "name": obj.get("name", ""),
        "segment_type": "static" if obj.get("static") else "rule",
        "rule": rule_text(obj.get("rule")),
        "members": "\n".join(obj.get("members") or []),
    }


def segment_definition(form: ConfigForm, code: str, stored: Mapping[str, Any] | None) -> Built:
    definition: Definition = {"code": code, "name": form.name.data}
    if form.segment_type.data == "static":
        definition.update(static=True, members=split_lines(form.members.data))
    else:
        text = (form.rule.data or "").strip()
        # The form checked that the text parses; the service checks what it says.
        definition["rule"] = yaml.safe_load(text) if text else None
    return Built(definition)


# -- sync connections: form data --------------------------------------------------------------


def _identifier_rows(links: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"braze": link.get("braze", ""), "profile": link.get("profile", "")} for link in links]


def _import_goal_data(goal: Mapping[str, Any]) -> dict[str, Any]:
    rest = goal.get("remaining_fields") or {}
    return {
        "code": goal.get("code", ""),
        "braze_segment_id": goal.get("braze_segment_id", ""),
        "identifiers": _identifier_rows(goal.get("identifiers") or []),
        "allow_create": bool(goal.get("allow_create")),
        "mappings": [
            {
                "braze": m.get("braze", ""),
                "profile": m.get("profile", ""),
                "strategy": m["strategy"],
            }
            for m in goal.get("mappings") or []
        ],
        "remaining_fields_enabled": bool(rest.get("enabled")),
        "remaining_fields_prefix": rest.get("prefix") or "",
        "remaining_fields_strategy": rest.get("strategy") or "set",
    }


def _export_goal_data(goal: Mapping[str, Any]) -> dict[str, Any]:
    destinations = goal.get("destinations") or {}
    return {
        "code": goal.get("code", ""),
        "segment": goal.get("segment", ""),
        "identifiers": _identifier_rows(goal.get("identifiers") or []),
        "create_if_missing": bool(goal.get("create_if_missing")),
        "mappings": [
            {
                "source": m.get("source", ""),
                "name": m.get("name") or "",
                "value": m.get("value") or "",
                "braze": m.get("braze", ""),
            }
            for m in goal.get("mappings") or []
        ],
        "destinations_braze": bool(destinations.get("braze", True)),
        "destinations_s3_cdi": bool(destinations.get("s3_cdi")),
    }


def _schedule_data(schedule: Mapping[str, Any] | None) -> dict[str, Any]:
    schedule = schedule or {}
    kind = next((k for k in ("times_per_day", "days", "day_of_month") if k in schedule), "none")
    return {
        "schedule_kind": kind,
        "schedule_times_per_day": schedule.get("times_per_day"),
        "schedule_days": list(schedule.get("days") or []),
        "schedule_day_of_month": schedule.get("day_of_month"),
        "schedule_at": schedule.get("at") or "",
        "schedule_timezone": schedule.get("timezone") or "",
    }


def sync_connection_form_data(obj: Mapping[str, Any]) -> dict[str, Any]:
    notify = obj.get("notify") or {}
    return {
        "code": obj.get("code", ""),
        "braze_connection": obj.get("braze_connection", ""),
        "enabled": bool(obj.get("enabled", True)),
        **_schedule_data(obj.get("schedule")),
        "notify_emails": "\n".join(notify.get("emails") or []),
        "notify_on": list(notify.get("on") or []),
        "import_goals": [_import_goal_data(g) for g in obj.get("import_goals") or []],
        "export_goals": [_export_goal_data(g) for g in obj.get("export_goals") or []],
    }


# -- sync connections: definition -------------------------------------------------------------


def _filled(*values: Any) -> bool:
    return any(v not in (None, "") for v in values)


def _identifiers(row: Form) -> tuple[list[dict[str, Any]], list[int]]:
    links, used = [], []
    for index, entry in enumerate(row.identifiers):
        link = entry.form
        if _filled(link.braze.data, link.profile.data):
            links.append({"braze": link.braze.data or None, "profile": link.profile.data or None})
            used.append(index)
    return links, used


def _import_goal(row: Form) -> tuple[dict[str, Any], dict[str, list[int]]] | None:
    identifiers, identifier_rows = _identifiers(row)
    mappings, mapping_rows = [], []
    for index, entry in enumerate(row.mappings):
        m = entry.form
        if _filled(m.braze.data, m.profile.data):
            mappings.append(
                {"braze": m.braze.data or None, "profile": m.profile.data or None,
                 "strategy": m.strategy.data}
            )  # fmt: skip
            mapping_rows.append(index)
    if row.remove.data or not (
        _filled(row.code.data, row.braze_segment_id.data) or identifiers or mappings
    ):
        return None
    goal = {
        "code": row.code.data or None,
        "braze_segment_id": row.braze_segment_id.data or None,
        "identifiers": identifiers,
        "allow_create": bool(row.allow_create.data),
        "mappings": mappings,
        "remaining_fields": {
            "enabled": bool(row.remaining_fields_enabled.data),
            "prefix": row.remaining_fields_prefix.data or "",
            "strategy": row.remaining_fields_strategy.data,
        },
    }
    return goal, {"identifiers": identifier_rows, "mappings": mapping_rows}


def _export_goal(row: Form) -> tuple[dict[str, Any], dict[str, list[int]]] | None:
    identifiers, identifier_rows = _identifiers(row)
    mappings, mapping_rows = [], []
    for index, entry in enumerate(row.mappings):
        m = entry.form
        if not _filled(m.source.data, m.name.data, m.value.data, m.braze.data):
            continue
        mapping: dict[str, Any] = {"source": m.source.data or None}
        if m.name.data:
            mapping["name"] = m.name.data
        if m.value.data:
            mapping["value"] = m.value.data
        mapping["braze"] = m.braze.data or None
        mappings.append(mapping)
        mapping_rows.append(index)
    if row.remove.data or not (_filled(row.code.data, row.segment.data) or identifiers or mappings):
        return None
    goal = {
        "code": row.code.data or None,
        "segment": row.segment.data or None,
        "identifiers": identifiers,
        "create_if_missing": bool(row.create_if_missing.data),
        "mappings": mappings,
        "destinations": {
            "braze": bool(row.destinations_braze.data),
            "s3_cdi": bool(row.destinations_s3_cdi.data),
        },
    }
    return goal, {"identifiers": identifier_rows, "mappings": mapping_rows}


def _schedule(form: ConfigForm) -> dict[str, Any] | None:
    kind = form.schedule_kind.data
    schedule: dict[str, Any]
    if kind == "times_per_day":
        schedule = {"times_per_day": form.schedule_times_per_day.data}
    elif kind == "days":
        schedule = {
            "days": list(form.schedule_days.data or []),
            "at": form.schedule_at.data or None,
        }
    elif kind == "day_of_month":
        schedule = {
            "day_of_month": form.schedule_day_of_month.data,
            "at": form.schedule_at.data or None,
        }
    else:
        return None
    if form.schedule_timezone.data:
        schedule["timezone"] = form.schedule_timezone.data
    return schedule


def _webhook(form: ConfigForm, stored: Mapping[str, Any] | None) -> str | None:
    """A new URL replaces the stored one; empty keeps it unless "Remove" is ticked."""
    if form.notify_webhook.data:
        return str(form.notify_webhook.data)
    kept = ((stored or {}).get("notify") or {}).get("webhook")
    return REDACTED if kept and not form.remove_webhook.data else None


def sync_connection_definition(
    form: ConfigForm, code: str, stored: Mapping[str, Any] | None
) -> Built:
    rows: dict[str, list[int]] = {}
    goals: dict[str, list[dict[str, Any]]] = {"import_goals": [], "export_goals": []}
    for key, build in (("import_goals", _import_goal), ("export_goals", _export_goal)):
        rows[key] = []
        for index, entry in enumerate(form[key]):
            built = build(entry.form)
            if built is None:
                continue
            goal, nested = built
            for name, used in nested.items():
                rows[f"{key}[{len(goals[key])}].{name}"] = used
            goals[key].append(goal)
            rows[key].append(index)
    definition: Definition = {
        "code": code,
        "braze_connection": form.braze_connection.data or None,
        "enabled": bool(form.enabled.data),
        "schedule": _schedule(form),
        "notify": {
            "emails": split_words(form.notify_emails.data),
            "on": list(form.notify_on.data or []),
            "webhook": _webhook(form, stored),
        },
        **goals,
    }
    return Built(definition, rows)
