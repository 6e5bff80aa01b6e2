"""Rights requests on the settings page (list, create with confirmation for erasure, status with
the download link), and a Braze connection's email actions: blocklist and global email status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length
from wtforms.validators import ValidationError as FormError

from backend.domain.errors import IntegrationError, ValidationError
from backend.domain.rights import STATUSES, parse_admin_request
from backend.services import configuration, email_states, rights
from backend.web import current_deps
from backend.web.admin import bp
from backend.web.admin.auth import actor
from backend.web.admin.definitions import split_words
from backend.web.admin.forms import AdminForm

TIME_KEYS = ("created_at", "updated_at", "completed_at", "download_expires_at")
LIST_SIZE = 100
BY_CHOICES = [SelectChoice("external_id", "External id"), SelectChoice("email", "Email")]


class RightsRequestForm(AdminForm):
    type = RadioField(
        "Request",
        choices=[
            SelectChoice("access", "Access: gather the person's data for download"),
            SelectChoice("erasure", "Erasure: delete the person in Braze and here"),
        ],
        default="access",
    )
    by = RadioField("The person, by", choices=BY_CHOICES, default="external_id")
    value = StringField(
        "External id or email",
        validators=[DataRequired(), Length(max=255)],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )
    confirm = BooleanField(
        "I understand that an erasure deletes this person's data in Braze and in Optline for "
        "good, leaving only a salted hash that keeps imports from bringing them back."
    )

    def validate_confirm(self, field: BooleanField) -> None:
        if self.type.data == "erasure" and not field.data:
            raise FormError("Confirm the erasure: it cannot be undone.")


class EmailsForm(AdminForm):
    emails = TextAreaField(
        "Email addresses",
        validators=[DataRequired(), Length(max=300_000)],
        description=f"One a line (or separated by commas), at most {email_states.MAX_EMAILS}.",
    )
    confirm = BooleanField(
        "I have checked these addresses: Braze applies this to every one of them",
        validators=[DataRequired(message="Tick this to confirm.")],
    )


class BlocklistForm(EmailsForm):
    pass


class EmailStatusForm(EmailsForm):
    state = SelectField(
        "Global email state",
        choices=[SelectChoice(s, s.replace("_", " ")) for s in email_states.STATES],
        default="unsubscribed",
    )


def _with_times(view: dict[str, Any]) -> dict[str, Any]:
    return {
        **view,
        **{k: datetime.fromisoformat(view[k]) for k in TIME_KEYS if isinstance(view.get(k), str)},
    }


@bp.get("/rights")
def rights_list() -> str:
    status = request.args.get("status") or None
    status = status if status in STATUSES else None
    found = rights.admin_list(current_deps(), status=status, limit=LIST_SIZE)
    return render_template(
        "admin/rights_list.html",
        requests=[_with_times(r) for r in found],
        statuses=STATUSES,
        status=status,
    )


@bp.route("/rights/new", methods=["GET", "POST"])
def rights_new() -> Any:
    form = RightsRequestForm()
    if form.validate_on_submit():
        body = {"type": form.type.data, form.by.data: form.value.data}
        try:
            created = rights.create_admin_request(
                current_deps(), parse_admin_request(body), actor=actor(), source="admin"
            )
        except ValidationError as exc:
            form.value.errors = [*form.value.errors, *(e.message for e in exc.errors)]
        else:
            flash(f"Rights request {created['id']} received.", "success")
            return redirect(url_for("admin.rights_request", public_id=created["id"]))
    status = 422 if form.is_submitted() else 200
    return render_template("admin/rights_new.html", form=form), status


@bp.get("/rights/<public_id>")
def rights_request(public_id: str) -> tuple[str, int, dict[str, str]]:
    view = rights.admin_status(current_deps(), public_id)
    html = render_template("admin/rights_request.html", req=_with_times(view))
    # The page may carry a download link for someone's data.
    return html, 200, {"Cache-Control": "no-store"}


def _email_page(code: str, http_status: int = 200, failed: EmailsForm | None = None) -> Any:
    """Both forms; ``failed`` (one of them, submitted) is shown with its problems."""
    connection = configuration.get_object(current_deps(), "braze_connections", code)
    blocklist_form = failed if isinstance(failed, BlocklistForm) else None
    status_form = failed if isinstance(failed, EmailStatusForm) else None
    html = render_template(
        "admin/email_states.html",
        connection=connection,
        blocklist_form=blocklist_form or BlocklistForm(formdata=None, prefix="blocklist"),
        status_form=status_form or EmailStatusForm(formdata=None, prefix="status"),
    )
    return html, http_status


@bp.get("/braze-connections/<code>/email")
def email_states_page(code: str) -> Any:
    return _email_page(code)


@bp.post("/braze-connections/<code>/email/<any(blocklist, status):action>")
def email_action(code: str, action: str) -> Any:
    configuration.get_object(current_deps(), "braze_connections", code)
    form: EmailsForm = (
        BlocklistForm(prefix="blocklist")
        if action == "blocklist"
        else EmailStatusForm(prefix="status")
    )
    if not form.validate_on_submit():
        return _email_page(code, 422, form)
    body: dict[str, Any] = {"connection": code, "emails": split_words(form.emails.data)}
    if isinstance(form, EmailStatusForm):
        body["state"] = form.state.data
    try:
        parsed = email_states.parse_action(body, with_state=action == "status")
        run = email_states.blocklist if action == "blocklist" else email_states.set_status
        result = run(current_deps(), parsed, actor=actor())
    except ValidationError as exc:
        form.emails.errors = [*form.emails.errors, *(str(e) for e in exc.errors)]
        return _email_page(code, 422, form)
    except IntegrationError as exc:
        flash(f"Braze refused part of the request: {exc}. Addresses sent before it are recorded.",
              "error")  # fmt: skip
        return redirect(url_for("admin.email_states_page", code=code))
    what = "blocklisted" if action == "blocklist" else f"set to {result['state']}"
    flash(
        f"{result['emails']} address(es) {what} in Braze in {result['calls']} call(s); "
        f"{result['ledger_entries']} ledger entries recorded.",
        "success",
    )
    return redirect(url_for("admin.email_states_page", code=code))
