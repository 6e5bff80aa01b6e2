"""Forms of profile sync on the settings page: segments and sync connections with their goals.

Shape only, like ``forms.py``: the configuration service validates and names problems by path.
"""

from __future__ import annotations

from typing import Any

import yaml
from markupsafe import Markup, escape
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget, TextInput, html_params

from backend.domain.braze_identifiers import BRAZE_IDENTIFIERS
from backend.domain.config_specs import CODE_HINT
from backend.domain.config_sync_goals import MAX_MAPPINGS, SOURCES, STRATEGIES
from backend.domain.schedules import WEEKDAYS
from backend.web.admin.forms import MAX_ROWS, NO_CHOICE, SECRET_INPUT, ConfigForm, choices

STRATEGY_LABELS = {
    "set": "set — take Braze's value when it has one",
    "add": "add — union of both lists",
    "sum": "sum — add Braze's change",
    "set_if_empty": "set if empty — only when the profile has none",
    "clear": "clear — remove when Braze has none",
}
SOURCE_LABELS = {
    "property": "Profile property (name)",
    "identifier": "Identifier (name)",
    "segments": "Segment memberships",
    "interactions": "Interactions viewed",
    "permissions": "Permission levels",
    "static": "Static text (value)",
}
IDENTIFIER_LABELS = {
    "external_id": "external_id",
    "email": "email",
    "braze_id": "braze_id",
    "phone": "phone",
}
DAY_LABELS = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
SCHEDULE_KINDS = [
    SelectChoice("none", "On demand only (Run now, optline sync run, the API)"),
    SelectChoice("times_per_day", "N times a day"),
    SelectChoice("days", "Days of the week at a time"),
    SelectChoice("day_of_month", "A day of the month at a time"),
]
CODE_DESCRIPTION = CODE_HINT.capitalize() + ". It cannot be changed later."


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class ChoiceOrTextInput:
    """A select when the field has choices (Braze's segments), otherwise a text input."""

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        if not field.choices:
            text: Markup = TextInput()(field, **kwargs)
            return text
        kwargs.setdefault("id", field.id)
        current = field.data or ""
        options = "".join(
            f"<option {html_params(value=value, selected=value == current)}>"
            f"{escape(label)}</option>"
            for value, label in field.choices
        )
        # html_params escapes attribute values and every label is escaped above.
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>{options}</select>")  # noqa: S704


class SegmentIdField(StringField):
    """A Braze segment id: picked from ``/segments/list`` when it could be listed, else typed."""

    widget = ChoiceOrTextInput()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.choices: list[tuple[str, str]] = []


# -- segments ---------------------------------------------------------------------------------


class SegmentForm(ConfigForm):
    code = StringField(
        "Code",
        validators=[DataRequired(), Length(max=64)],
        filters=[_strip],
        description=CODE_DESCRIPTION,
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=200)], filters=[_strip])
    segment_type = RadioField(
        "Kind of segment",
        choices=[
            SelectChoice("rule", "A rule over profile properties and memberships"),
            SelectChoice("static", "A static list of members"),
        ],
        default="rule",
    )
    rule = TextAreaField(
        "Rule",
        validators=[Length(max=100_000)],
        description="YAML or JSON, e.g. {all: [{property: tier, op: eq, value: gold}]}. "
        "Shapes: all / any (lists), not, segment (a membership), or a condition with property, "
        "op (eq, ne, in, not_in, exists, gt, gte, lt, lte, contains) and value. Quote text "
        "that looks like a number, a date or yes/no.",
    )
    members = TextAreaField(
        "Members",
        validators=[Length(max=3_000_000)],
        description="For a static segment: external ids, one a line.",
    )

    def validate_rule(self, field: TextAreaField) -> None:
        if self.segment_type.data != "rule" or not (field.data or "").strip():
            return
        try:
            yaml.safe_load(field.data)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise ValidationError(f"This is not valid YAML or JSON{where}.") from None


# -- sync connections -------------------------------------------------------------------------


class IdentifierRow(Form):
    braze = SelectField(
        "Braze identifier",
        choices=[NO_CHOICE, *choices(BRAZE_IDENTIFIERS, IDENTIFIER_LABELS)],
        default="",
    )
    profile = StringField(
        "Profile identifier",
        validators=[Length(max=50)],
        filters=[_strip],
        description="external_id, email, or another identifier name.",
    )


class ImportMappingRow(Form):
    braze = StringField("Braze field", validators=[Length(max=255)], filters=[_strip])
    profile = StringField("Profile property", validators=[Length(max=200)], filters=[_strip])
    strategy = SelectField(
        "Merge strategy", choices=choices(STRATEGIES, STRATEGY_LABELS), default="set"
    )


class ImportGoalRow(Form):
    code = StringField("Goal code", validators=[Length(max=64)], filters=[_strip])
    braze_segment_id = SegmentIdField(
        "Braze segment", validators=[Length(max=100)], filters=[_strip]
    )
    identifiers = FieldList(
        FormField(IdentifierRow), "Identifiers", max_entries=len(BRAZE_IDENTIFIERS) + 1
    )
    allow_create = BooleanField("Allow creation of new profiles")
    mappings = FieldList(FormField(ImportMappingRow), "Field mappings", max_entries=MAX_MAPPINGS)
    remaining_fields_enabled = BooleanField("Add remaining fields")
    remaining_fields_prefix = StringField(
        "Prefix of remaining fields",
        validators=[Length(max=50)],
        filters=[_strip],
        description="Each unmapped Braze custom attribute becomes the property "
        "<prefix><attribute name>, e.g. braze_.",
    )
    remaining_fields_strategy = SelectField(
        "Strategy of remaining fields", choices=choices(STRATEGIES, STRATEGY_LABELS), default="set"
    )
    remove = BooleanField("Remove this import goal")


class ExportMappingRow(Form):
    source = SelectField(
        "Source", choices=[NO_CHOICE, *choices(SOURCES, SOURCE_LABELS)], default=""
    )
    name = StringField("Name", validators=[Length(max=200)], filters=[_strip])
    value = StringField("Value", validators=[Length(max=1000)])
    braze = StringField("Braze attribute", validators=[Length(max=255)], filters=[_strip])


class ExportGoalRow(Form):
    code = StringField("Goal code", validators=[Length(max=64)], filters=[_strip])
    segment = SelectField("Segment", choices=[NO_CHOICE], default="", validate_choice=False)
    identifiers = FieldList(
        FormField(IdentifierRow), "Identifiers", max_entries=len(BRAZE_IDENTIFIERS) + 1
    )
    create_if_missing = BooleanField("Create new records in Braze if no match")
    mappings = FieldList(FormField(ExportMappingRow), "Field mappings", max_entries=MAX_MAPPINGS)
    destinations_braze = BooleanField("Send to Braze (/users/track)", default=True)
    destinations_s3_cdi = BooleanField("Write to S3 for Braze Cloud Data Ingestion")
    remove = BooleanField("Remove this export goal")


class SyncConnectionForm(ConfigForm):
    code = StringField(
        "Code",
        validators=[DataRequired(), Length(max=64)],
        filters=[_strip],
        description=CODE_DESCRIPTION,
    )
    braze_connection = SelectField(
        "Braze connection",
        choices=[NO_CHOICE],
        validate_choice=False,
        description="Its S3 settings are the transport for imports.",
    )
    enabled = BooleanField("Enabled: scheduled runs happen", default=True)
    schedule_kind = RadioField("Schedule", choices=SCHEDULE_KINDS, default="none")
    schedule_times_per_day = IntegerField(
        "Times a day",
        validators=[Optional()],
        description="1 to 96, evenly spaced from 00:00.",
    )
    schedule_days = SelectMultipleField(
        "Days of the week",
        choices=choices(WEEKDAYS, DAY_LABELS),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    schedule_day_of_month = IntegerField(
        "Day of the month", validators=[Optional()], description="1 to 28."
    )
    schedule_at = StringField(
        "At",
        validators=[Length(max=5)],
        filters=[_strip],
        description="For days of the week and day of the month: a time such as 06:30.",
    )
    schedule_timezone = StringField(
        "Timezone",
        validators=[Length(max=64)],
        filters=[_strip],
        description="An IANA name such as Europe/Madrid; empty means UTC.",
    )
    notify_emails = TextAreaField(
        "Notify by email",
        validators=[Length(max=6000)],
        description="Addresses, one a line.",
    )
    notify_on = SelectMultipleField(
        "Notify when a run",
        choices=[SelectChoice("success", "succeeds"), SelectChoice("failure", "fails")],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    notify_webhook = PasswordField(
        "Webhook URL",
        validators=[Length(max=2000)],
        description="Receives a JSON POST per run; stored encrypted, never shown again.",
        render_kw=SECRET_INPUT,
    )
    remove_webhook = BooleanField("Remove the webhook")
    import_goals = FieldList(FormField(ImportGoalRow), "Import goals", max_entries=MAX_ROWS)
    export_goals = FieldList(FormField(ExportGoalRow), "Export goals", max_entries=MAX_ROWS)

    def validate(self, extra_validators: Any = None) -> bool:
        """The inputs the chosen schedule form needs (the service checks their values)."""
        valid: bool = super().validate(extra_validators)
        needed = {
            "times_per_day": [(self.schedule_times_per_day, "Say how many times a day.")],
            "days": [(self.schedule_at, "Say at what time, e.g. 06:30.")],
            "day_of_month": [
                (self.schedule_day_of_month, "Say which day of the month."),
                (self.schedule_at, "Say at what time, e.g. 02:00."),
            ],
        }
        for field, message in needed.get(self.schedule_kind.data or "", []):
            if field.data in (None, "") and not field.errors:
                field.errors = [*field.errors, message]
                valid = False
        return valid
