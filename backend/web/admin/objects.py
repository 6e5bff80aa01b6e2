"""List, create, edit and delete configuration objects through the configuration service."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from wtforms import Form, FormField
from wtforms.fields.choices import SelectChoice

from backend.domain.errors import ConflictError, FieldError, ValidationError
from backend.services import configuration
from backend.web import current_deps
from backend.web.admin import bp
from backend.web.admin.auth import actor
from backend.web.admin.definitions import (
    Built,
    DefinitionBuilder,
    FormData,
    attach_errors,
    connection_definition,
    connection_form_data,
    property_definition,
    property_form_data,
    subscription_definition,
    subscription_form_data,
)
from backend.web.admin.forms import (
    NO_CHOICE,
    ActionForm,
    BrazeConnectionForm,
    ConfigForm,
    PropertyForm,
    SubscriptionForm,
)
from backend.web.admin.sync_config import (
    schedule_text,
    segment_context,
    sync_connection_context,
)
from backend.web.admin.sync_definitions import (
    segment_definition,
    segment_form_data,
    sync_connection_definition,
    sync_connection_form_data,
)
from backend.web.admin.sync_forms import SegmentForm, SyncConnectionForm

# Rows added by "Add more rows", and blank rows shown after the stored ones.
MORE_ROWS = 2
SPARE_ROWS = 1
# Called only when the form is shown: fills choices that come from other objects (and from
# Braze), which validation does not need, and returns extra template context.
Context = Callable[[ConfigForm, Mapping[str, Any] | None], dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    """One kind of configuration object as the settings page shows it."""

    kind: str  # the configuration service's name, also the config file's section
    slug: str  # in URLs
    singular: str
    plural: str
    form_class: type[ConfigForm]
    form_data: FormData
    build: DefinitionBuilder
    template: str
    new_defaults: dict[str, Any] = field(default_factory=dict)
    # FieldList name (at any depth) -> rows to show on a new form
    new_rows: dict[str, int] = field(default_factory=dict)
    context: Context | None = None


KINDS: dict[str, Kind] = {
    kind.slug: kind
    for kind in (
        Kind(
            "braze_connections",
            "braze-connections",
            "Braze connection",
            "Braze connections",
            BrazeConnectionForm,
            connection_form_data,
            connection_definition,
            "admin/braze_connection_form.html",
            new_defaults={"identity": "external_id", "create_missing_users": True},
        ),
        Kind(
            "properties",
            "properties",
            "Property",
            "Properties",
            PropertyForm,
            property_form_data,
            property_definition,
            "admin/property_form.html",
            new_defaults={
                "languages": "en",
                "identity_capture": [{"source": "queue", "key": ""}],
                "subscriptions_mode": "all",
            },
            new_rows={"signing_keys": 1, "identity_capture": 2},
        ),
        Kind(
            "subscriptions",
            "subscriptions",
            "Subscription",
            "Subscriptions",
            SubscriptionForm,
            subscription_form_data,
            subscription_definition,
            "admin/subscription_form.html",
            new_defaults={"texts": [{"language": "en"}, {"language": "es"}]},
            new_rows={"texts": 2, "channels": 2},
        ),
        Kind(
            "segments",
            "segments",
            "Segment",
            "Segments",
            SegmentForm,
            segment_form_data,
            segment_definition,
            "admin/segment_form.html",
            new_defaults={"segment_type": "rule"},
            context=segment_context,
        ),
        Kind(
            "sync_connections",
            "sync-connections",
            "Sync connection",
            "Sync connections",
            SyncConnectionForm,
            sync_connection_form_data,
            sync_connection_definition,
            "admin/sync_connection_form.html",
            new_defaults={"enabled": True, "schedule_kind": "none", "notify_on": ["failure"]},
            new_rows={"import_goals": 1, "export_goals": 1, "identifiers": 1, "mappings": 2},
            context=sync_connection_context,
        ),
    )
}
SLUGS = "any(" + ", ".join(f"'{slug}'" for slug in KINDS) + ")"


def kind_for(slug: str) -> Kind:
    kind = KINDS.get(slug)
    if kind is None:
        abort(404)
    return kind


def _list_names(form: Form) -> list[str]:
    return [name for name, fld in form._fields.items() if fld.type == "FieldList"]


def _pad(form: Form, rows: Mapping[str, int] | None) -> None:
    """Pad list fields, and the lists inside their rows, with blank rows.

    A new form shows ``rows`` rows, a stored object one spare row; "Add more rows" adds some.
    """
    for name in _list_names(form):
        entries = form[name].entries
        if request.method == "POST":
            wanted = len(entries) + (MORE_ROWS if request.form.get("more_rows") else 0)
        else:
            wanted = max((rows or {}).get(name, 0), len(entries) + SPARE_ROWS)
        while len(entries) < min(wanted, form[name].max_entries or wanted):
            form[name].append_entry()
        for entry in entries:
            if isinstance(entry, FormField):
                _pad(entry.form, rows)


def _prepare(form: ConfigForm, rows: Mapping[str, int] | None = None) -> None:
    """Pad the lists and fill choices that come from other objects."""
    _pad(form, rows)
    deps = current_deps()
    if "channels" in form._fields:
        connections = configuration.list_objects(deps, "braze_connections")
        choices = [NO_CHOICE, *(_choice(c) for c in connections)]
        for entry in form.channels:
            entry.form.connection.choices = choices
    if "subscriptions" in form._fields and "texts" not in form._fields:
        form.subscriptions.choices = [
            _choice(s) for s in configuration.list_objects(deps, "subscriptions")
        ]


def display_name(obj: Mapping[str, Any]) -> str:
    """An object's name; for translated names, the English one."""
    name = obj.get("name")
    if isinstance(name, Mapping):
        name = name.get("en") or next(iter(name.values()), "")
    return str(name or "")


def _choice(obj: Mapping[str, Any]) -> SelectChoice:
    name = display_name(obj)
    return SelectChoice(obj["code"], f"{name} ({obj['code']})" if name else obj["code"])


def _save(kind: Kind, form: ConfigForm, code: str, stored: Mapping[str, Any] | None) -> str | None:
    """Send the definition to the service; the outcome, or None with the errors on the form."""
    built: Built = kind.build(form, code, stored)
    try:
        if stored is None:
            outcome, _ = configuration.put_object(
                current_deps(), kind.kind, built.definition, actor=actor(), create_only=True
            )
        else:
            outcome, _ = configuration.put_object(
                current_deps(), kind.kind, built.definition, actor=actor(), code=code
            )
    except ValidationError as exc:
        attach_errors(form, exc.errors, built)
        return None
    except ConflictError as exc:
        attach_errors(form, [FieldError("code" if stored is None else "", str(exc))], built)
        return None
    return outcome


def _render_form(
    kind: Kind,
    form: ConfigForm,
    code: str | None,
    status: int = 200,
    stored: Mapping[str, Any] | None = None,
) -> Any:
    """``stored`` tells the template which secrets exist (their values are ``<redacted>``)."""
    extra = kind.context(form, stored) if kind.context is not None else {}
    page = render_template(
        kind.template, kind=kind, form=form, code=code, stored=stored or {}, **extra
    )
    return page, status


@bp.get(f"/<{SLUGS}:slug>/")
def object_list(slug: str) -> str:
    kind = kind_for(slug)
    objects = configuration.list_objects(current_deps(), kind.kind)
    return render_template(
        "admin/object_list.html",
        kind=kind,
        objects=objects,
        display_name=display_name,
        describe_schedule=schedule_text,
    )


@bp.route(f"/<{SLUGS}:slug>/new", methods=["GET", "POST"])
def object_new(slug: str) -> Any:
    kind = kind_for(slug)
    form = kind.form_class(data=kind.new_defaults)
    _prepare(form, kind.new_rows if request.method == "GET" else None)
    if request.form.get("more_rows") or not form.validate_on_submit():
        status = 422 if form.is_submitted() and form.errors else 200
        return _render_form(kind, form, None, status)
    code = form.code.data
    outcome = _save(kind, form, code, None)
    if outcome is None:
        return _render_form(kind, form, None, 422)
    flash(f"{kind.singular} {code} created.", "success")
    return redirect(url_for("admin.object_edit", slug=slug, code=code))


@bp.route(f"/<{SLUGS}:slug>/<code>/", methods=["GET", "POST"])
def object_edit(slug: str, code: str) -> Any:
    kind = kind_for(slug)
    stored = configuration.get_object(current_deps(), kind.kind, code)
    form = (
        kind.form_class()
        if request.method == "POST"
        else kind.form_class(data=kind.form_data(stored))
    )
    form.drop_code()
    _prepare(form)
    if request.form.get("more_rows") or not form.validate_on_submit():
        status = 422 if form.is_submitted() and form.errors else 200
        return _render_form(kind, form, code, status, stored)
    outcome = _save(kind, form, code, stored)
    if outcome is None:
        return _render_form(kind, form, code, 422, stored)
    if outcome == "unchanged":
        flash(f"{kind.singular} {code} is unchanged.", "info")
    else:
        flash(f"{kind.singular} {code} {outcome}.", "success")
    return redirect(url_for("admin.object_edit", slug=slug, code=code))


@bp.route(f"/<{SLUGS}:slug>/<code>/delete", methods=["GET", "POST"])
def object_delete(slug: str, code: str) -> Any:
    kind = kind_for(slug)
    deps = current_deps()
    configuration.get_object(deps, kind.kind, code)
    form = ActionForm()
    error: str | None = None
    if form.validate_on_submit():
        try:
            configuration.delete_object(deps, kind.kind, code, actor=actor())
        except ConflictError as exc:
            error = str(exc)
        else:
            flash(f"{kind.singular} {code} deleted.", "success")
            return redirect(url_for("admin.object_list", slug=slug))
    page = render_template("admin/object_delete.html", kind=kind, code=code, form=form, error=error)
    return page, 409 if error else 200
