"""Visitor lookup: a person's choices with their sync status, the ledger, the profile, and an
admin edit recorded in the ledger with source "admin" and the admin's email as proof."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response
from wtforms import FieldList, Form, FormField, HiddenField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length
from wtforms.validators import ValidationError as FormError

from backend.domain.errors import ValidationError
from backend.domain.preferences import MAX_CHANGES, Change
from backend.services import admin_reads, ledger, preferences, profiles
from backend.web import current_deps
from backend.web.admin import bp
from backend.web.admin.auth import current_admin
from backend.web.admin.forms import AdminForm

BY = ("external_id", "email")
LEDGER_SHOWN = 100
EDIT_PREFIX = "edit"  # the lookup form on the same page has fields of the same names
STATE_CHOICES = [
    SelectChoice("", "not chosen — leave as is"),
    SelectChoice("subscribed", "subscribed"),
    SelectChoice("unsubscribed", "unsubscribed"),
]


class LookupForm(AdminForm):
    """A GET form: who to look up."""

    class Meta:
        csrf = False

    by = RadioField(
        "Look up by",
        choices=[SelectChoice("external_id", "External id"), SelectChoice("email", "Email")],
        default="external_id",
    )
    value = StringField(
        "External id or email",
        validators=[DataRequired(), Length(max=254)],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )

    def validate_value(self, field: StringField) -> None:
        if self.by.data == "email" and "@" not in (field.data or ""):
            raise FormError("Give an email address, or look up by external id.")


class ChoiceRow(Form):
    subscription = HiddenField(validators=[Length(max=64)])
    channel = HiddenField(validators=[Length(max=20)])
    state = SelectField("New state", choices=STATE_CHOICES, default="")


class PreferencesForm(AdminForm):
    by = HiddenField(validators=[AnyOf(BY)])
    value = HiddenField(validators=[DataRequired(), Length(max=254)])
    rows = FieldList(FormField(ChoiceRow), max_entries=MAX_CHANGES)


def _person(by: str, value: str) -> tuple[str | None, str | None]:
    """(external_id, email): the one the admin looked up by, the other None."""
    return (value, None) if by == "external_id" else (None, value)


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@bp.get("/visitors")
def visitors() -> Any:
    lookup = LookupForm(formdata=request.args if request.args else None)
    if not request.args or not lookup.validate():
        status = 422 if request.args else 200
        return render_template("admin/visitors.html", lookup=lookup, found=False), status
    deps = current_deps()
    external_id, email = _person(lookup.by.data, lookup.value.data)
    choices = admin_reads.visitor_choices(deps, external_id=external_id, email=email)
    for choice in choices:
        choice["updated_at"] = _at(choice["updated_at"])
    edit = PreferencesForm(
        formdata=None,
        prefix=EDIT_PREFIX,
        data={
            "by": lookup.by.data,
            "value": lookup.value.data,
            "rows": [
                {
                    "subscription": c["subscription"],
                    "channel": c["channel"],
                    "state": c["state"] or "",
                }
                for c in choices
            ],
        },
    )
    entries = ledger.entries_for(deps, external_id=external_id, email=email, limit=LEDGER_SHOWN)
    for entry in entries:
        entry["at"] = _at(entry["at"])
    return render_template(
        "admin/visitors.html",
        lookup=lookup,
        found=True,
        rows=list(zip(choices, edit.rows, strict=True)),
        edit=edit,
        entries=entries,
        ledger_limit=LEDGER_SHOWN,
        profiles=profiles.find_profiles(deps, external_id=external_id, email=email),
    )


@bp.post("/visitors/preferences")
def visitor_preferences() -> Response:
    form = PreferencesForm(prefix=EDIT_PREFIX)
    by, value = form.by.data or "external_id", form.value.data or ""
    back = url_for("admin.visitors", by=by, value=value)
    if not form.validate_on_submit():
        flash("The change was not understood; look the person up again and retry.", "error")
        return redirect(back if value else url_for("admin.visitors"))
    changes = [
        Change(row.form.subscription.data, row.form.channel.data, row.form.state.data)
        for row in form.rows
        if row.form.state.data
    ]
    external_id, email = _person(by, value)
    try:
        result = preferences.admin_set_preferences(
            current_deps(),
            external_id=external_id,
            email=email,
            changes=changes,
            actor=current_admin().email,
            source="admin",
        )
    except ValidationError as exc:
        flash(f"Nothing was saved: {exc}", "error")
        return redirect(back)
    saved = result["saved"]
    if saved:
        flash(f"{saved} choice(s) saved and recorded in the ledger (source admin).", "success")
    else:
        flash("Nothing changed: every choice already had that state.", "info")
    return redirect(back)
