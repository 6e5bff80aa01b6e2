"""What the segment and sync connection forms need beyond their definition: choices that come
from other objects (and from Braze's segment list), the members panel, and segment refresh."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import flash, redirect, url_for
from werkzeug.wrappers import Response

from backend.domain.errors import OptlineError
from backend.domain.schedules import describe_schedule, schedule_from_dict
from backend.services import configuration, segment_admin
from backend.services.sync_import import list_braze_segments
from backend.web import current_deps
from backend.web.admin import bp
from backend.web.admin.forms import NO_CHOICE, ActionForm, ConfigForm

MEMBERS_SHOWN = 100


def schedule_text(schedule: Mapping[str, Any] | None) -> str:
    """A stored schedule in words; none means runs happen on demand only."""
    return describe_schedule(schedule_from_dict(dict(schedule))) if schedule else "on demand"


def _label(obj: Mapping[str, Any]) -> str:
    name = obj.get("name")
    return f"{name} ({obj['code']})" if isinstance(name, str) and name else str(obj["code"])


def segment_context(form: ConfigForm, stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """On edit, the members the segment has now (the first ones) and how many."""
    if stored is None:
        return {}
    return {"members": segment_admin.members(current_deps(), stored["code"], limit=MEMBERS_SHOWN)}


def braze_segment_choices(connection: Mapping[str, Any] | None) -> tuple[list[Any], str | None]:
    """Braze's segments of a live connection as (id, label) pairs, or none and why."""
    if connection is None:
        return [], "Choose a Braze connection first; meanwhile type the segment id."
    if connection.get("sandbox"):
        return [], (
            f"{connection['code']} is a sandbox connection: Braze's segment list is not read. "
            "Type the segment id (a UUID from Braze)."
        )
    try:
        segments = list_braze_segments(current_deps(), connection["code"])
    except OptlineError as exc:
        return [], f"Braze's segment list could not be read ({exc}). Type the segment id."
    found = [(str(s["id"]), f"{s.get('name') or s['id']} ({s['id']})") for s in segments]
    return sorted(found, key=lambda pair: pair[1].lower()), None


def sync_connection_context(form: ConfigForm, stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """Fill the Braze connection and segment choices; import goals pick Braze's segments.

    Only when the form is shown, so a save never waits for Braze's segment list.
    """
    deps = current_deps()
    connections = configuration.list_objects(deps, "braze_connections")
    form.braze_connection.choices = [(c["code"], _label(c)) for c in connections] or [NO_CHOICE]
    if not form.braze_connection.data and connections:
        form.braze_connection.data = connections[0]["code"]
    segments = [NO_CHOICE, *((s["code"], _label(s)) for s in configuration.list_objects(
        deps, "segments"))]  # fmt: skip
    for entry in form.export_goals:
        entry.form.segment.choices = segments
    chosen = next((c for c in connections if c["code"] == form.braze_connection.data), None)
    listed, note = braze_segment_choices(chosen)
    for entry in form.import_goals:
        picker = entry.form.braze_segment_id
        if note is not None:
            picker.choices = []
            continue
        current = picker.data or ""
        extra = [] if not current or any(v == current for v, _ in listed) else [
            (current, f"{current} (not in Braze's list)")
        ]  # fmt: skip
        picker.choices = [("", "(choose a Braze segment)"), *listed, *extra]
    return {"segment_note": note}


@bp.post("/segments/<code>/refresh")
def segment_refresh(code: str) -> Response:
    if ActionForm().validate_on_submit():
        result = segment_admin.refresh(current_deps(), code)
        changes = ", ".join(
            f"{r['segment']}: {r['added']} joined, {r['removed']} left" for r in result["refreshed"]
        )
        flash(f"Segment {code} refreshed — {changes or 'no changes'}.", "success")
    return redirect(url_for("admin.object_edit", slug="segments", code=code))
