"""Propagation to Braze on the settings page: outbox depth, sync lag, dead letters and replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, SelectMultipleField
from wtforms.validators import AnyOf, Length

from backend.services import admin_reads, configuration, outbox_admin
from backend.web import current_deps
from backend.web.admin import bp


class ReplayForm(FlaskForm):
    """Replay every dead row (of the connection shown) or only the rows ticked."""

    connection = HiddenField(validators=[Length(max=64)])
    ids = SelectMultipleField(coerce=int, validate_choice=False)
    scope = HiddenField(validators=[AnyOf(["all", "selected"])])


def _connection_codes() -> list[str]:
    return [c["code"] for c in configuration.list_objects(current_deps(), "braze_connections")]


@bp.get("/outbox")
def outbox() -> str:
    codes = _connection_codes()
    connection = request.args.get("connection") or None
    connection = connection if connection in codes else None
    data = admin_reads.dead_letters(current_deps(), connection=connection)
    for entry in data["dead"]:
        entry["created_at"] = datetime.fromisoformat(entry["created_at"])
    oldest = data.get("oldest_pending_at")
    return render_template(
        "admin/outbox.html",
        data=data,
        oldest=datetime.fromisoformat(oldest) if oldest else None,
        statuses=outbox_admin.STATUSES,
        connections=codes,
        connection=connection,
    )


@bp.post("/outbox/replay")
def outbox_replay() -> Response:
    form = ReplayForm()
    connection = form.connection.data or None
    back = url_for("admin.outbox", **({"connection": connection} if connection else {}))
    if not form.validate_on_submit():
        flash("The replay request was not understood; use the Replay buttons.", "error")
        return redirect(back)
    ids: list[int] = list(form.ids.data or [])
    if form.scope.data == "selected" and not ids:
        flash("Tick the rows to replay first, or use “Replay all dead rows”.", "error")
        return redirect(back)
    result: dict[str, Any] = outbox_admin.replay_dead(
        current_deps(),
        connection=connection,
        ids=ids if form.scope.data == "selected" else None,
    )
    message = f"{result['replayed']} dead row(s) back to pending."
    if result["superseded"]:
        message += (
            f" {result['superseded']} superseded: a newer change to the same person and "
            "group exists, so replaying them would undo it."
        )
    flash(message, "success")
    return redirect(back)
