"""The ``sync_connections`` section: a Braze connection, schedule, notifications and goals.

```yaml
sync_connections:
  - code: braze-profiles
    braze_connection: braze-main
    enabled: true
    schedule: {times_per_day: 4, timezone: Europe/Madrid}   # or null: run on demand only
    notify: {emails: [ops@acme.com], on: [failure, success], webhook: null}
    import_goals: [...]
    export_goals: [...]
```
A webhook URL often carries its own credentials (Slack, Teams), so it is a secret: stored
encrypted, exported redacted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from backend.domain.config_registry import (
    ParseContext,
    Reference,
    SecretMapper,
    Section,
    register_section,
)
from backend.domain.config_schema import Problems, Reader, describe, join, unique_strings
from backend.domain.config_specs import CODE_HINT, CODE_RE, REDACTED
from backend.domain.config_sync_goals import (
    ExportGoalSpec,
    ImportGoalSpec,
    export_goal_to_dict,
    import_goal_to_dict,
    parse_export_goal,
    parse_import_goal,
)
from backend.domain.config_values import url_problem
from backend.domain.schedules import Schedule, parse_schedule, schedule_to_dict

NAME = "sync_connections"
KEYS = ("code", "braze_connection", "enabled", "schedule", "notify", "import_goals", "export_goals")
NOTIFY_ON = ("success", "failure")
EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
MAX_GOALS = 50
WEBHOOK_NAME = "notify.webhook"


@dataclass(frozen=True)
class NotifySpec:
    emails: tuple[str, ...] = ()
    on: tuple[str, ...] = ("failure",)  # in NOTIFY_ON order
    webhook: str | None = None


@dataclass(frozen=True)
class SyncConnectionSpec:
    code: str
    braze_connection: str
    enabled: bool = True
    schedule: Schedule | None = None
    notify: NotifySpec = field(default_factory=NotifySpec)
    import_goals: tuple[ImportGoalSpec, ...] = ()
    export_goals: tuple[ExportGoalSpec, ...] = ()


def _email_problem(value: str) -> str | None:
    if len(value) > 254 or not EMAIL_RE.fullmatch(value.strip()):
        return f"{value!r} is not an email address"
    return None


def _notify(reader: Reader, ctx: ParseContext, code: str | None) -> NotifySpec | None:
    if not reader.has("notify"):
        return NotifySpec()
    notify = reader.child("notify", ("emails", "on", "webhook"))
    if notify is None:
        return None
    before = len(notify.problems.errors)
    emails = unique_strings(
        notify.items("emails", max_items=20),
        notify.problems,
        _email_problem,
        normalise=lambda e: e.strip().lower(),
    )
    on: tuple[str, ...] = ("failure",)
    entries = notify.items("on", max_items=len(NOTIFY_ON))
    if entries is not None:
        chosen = set()
        for item_path, value in entries:
            if not isinstance(value, str) or value not in NOTIFY_ON:
                shown = repr(value) if isinstance(value, str) else describe(value)
                notify.problems.add(item_path, f"{shown} is not one of: {', '.join(NOTIFY_ON)}")
            else:
                chosen.add(value)
        on = tuple(o for o in NOTIFY_ON if o in chosen)
    webhook = notify.text("webhook", required=False, max_length=2000, strip=True, secret=True)
    if webhook == REDACTED:
        if not ctx.has_secret(NAME, code, WEBHOOK_NAME):
            notify.problem("webhook", "give the URL; a redacted value only keeps an existing one")
    elif webhook is not None:
        problem = url_problem(webhook)
        if problem:
            notify.problem("webhook", "is not an http(s) URL such as https://hooks.example.com/x")
    if len(notify.problems.errors) > before:
        return None
    return NotifySpec(tuple(emails), on, webhook)


def _goals(reader: Reader, key: str, taken: dict[str, str]) -> list[Any]:
    parse_goal = parse_import_goal if key == "import_goals" else parse_export_goal
    goals = []
    for item_path, value in reader.items(key, max_items=MAX_GOALS) or []:
        goal = parse_goal(value, item_path, reader.problems)
        if goal is None:
            continue
        if goal.code in taken:
            reader.problems.add(
                join(item_path, "code"),
                f"duplicate goal code {goal.code!r} (also {taken[goal.code]}); "
                "import and export goals of a connection share one namespace",
            )
            continue
        taken[goal.code] = item_path
        goals.append(goal)
    return goals


def parse(
    value: Any, path: str, problems: Problems, ctx: ParseContext
) -> SyncConnectionSpec | None:
    reader = Reader.of(value, path, problems, KEYS)
    if reader is None:
        return None
    before = len(problems.errors)
    code = reader.text("code", max_length=64, pattern=CODE_RE, hint=CODE_HINT)
    braze = reader.text("braze_connection", max_length=64, pattern=CODE_RE, hint=CODE_HINT)
    if braze is not None:
        problems.refer(reader.at("braze_connection"), "braze_connections", braze)
    enabled = reader.flag("enabled", True)
    schedule = None
    if reader.has("schedule"):
        schedule = parse_schedule(reader.get("schedule"), reader.at("schedule"), problems)
    notify = _notify(reader, ctx, code)
    taken: dict[str, str] = {}
    imports = _goals(reader, "import_goals", taken)
    exports = _goals(reader, "export_goals", taken)
    if len(problems.errors) > before or notify is None:
        return None
    assert code and braze
    return SyncConnectionSpec(
        code, braze, enabled, schedule, notify, tuple(imports), tuple(exports)
    )


def serialise(spec: SyncConnectionSpec) -> dict[str, Any]:
    return {
        "code": spec.code,
        "braze_connection": spec.braze_connection,
        "enabled": spec.enabled,
        "schedule": None if spec.schedule is None else schedule_to_dict(spec.schedule),
        "notify": {
            "emails": list(spec.notify.emails),
            "on": list(spec.notify.on),
            "webhook": spec.notify.webhook,
        },
        "import_goals": [import_goal_to_dict(g) for g in spec.import_goals],
        "export_goals": [export_goal_to_dict(g) for g in spec.export_goals],
    }


def references(spec: SyncConnectionSpec) -> list[Reference]:
    refs = [Reference("braze_connection", "braze_connections", spec.braze_connection)]
    refs.extend(
        Reference(f"export_goals[{i}].segment", "segments", goal.segment)
        for i, goal in enumerate(spec.export_goals)
    )
    return refs


def map_secrets(spec: SyncConnectionSpec, mapper: SecretMapper) -> SyncConnectionSpec:
    if spec.notify.webhook is None:
        return spec
    webhook = mapper(WEBHOOK_NAME, spec.notify.webhook)
    return replace(spec, notify=replace(spec.notify, webhook=webhook))


SECTION = register_section(
    Section(
        name=NAME,
        kind="sync_connection",
        label="sync connection",
        order=50,
        parse=parse,
        serialise=serialise,
        references=references,
        map_secrets=map_secrets,
    )
)
