"""Flask-WTF forms of the settings page: shape only; the configuration service validates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    FloatField,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from backend.domain.config_specs import (
    CAPTURE_SOURCES,
    CHANNELS,
    CODE_HINT,
    IDENTITIES,
    MAX_TOKEN_TTL,
    MIN_HS256_SECRET,
    MIN_TOKEN_TTL,
    SIGNING_ALGORITHMS,
)

CHANNEL_LABELS = {"email": "Email", "sms": "SMS", "push": "Push", "whatsapp": "WhatsApp"}
CAPTURE_LABELS = {
    "queue": "optline('identify', token) call",
    "cookie": "Cookie",
    "window": "window variable",
    "data_layer": "Data layer (window.dataLayer)",
    "local_storage": "localStorage",
    "query": "URL query parameter",
}
ALGORITHM_LABELS = {
    "HS256": "HS256 (shared secret)",
    "ES256": "ES256 (public key)",
    "RS256": "RS256 (public key)",
}
IDENTITY_LABELS = {"external_id": "External id", "email": "Email address"}
NO_CHOICE = SelectChoice("", "(none)")


def choices(values: Iterable[str], labels: Mapping[str, str]) -> list[SelectChoice]:
    return [SelectChoice(value, labels.get(value, value)) for value in values]


CHANNEL_CHOICES = [NO_CHOICE, *choices(CHANNELS, CHANNEL_LABELS)]
CAPTURE_CHOICES = [NO_CHOICE, *choices(CAPTURE_SOURCES, CAPTURE_LABELS)]
ALGORITHM_CHOICES = choices(SIGNING_ALGORITHMS, ALGORITHM_LABELS)
IDENTITY_CHOICES = choices(IDENTITIES, IDENTITY_LABELS)
MAX_ROWS = 50
# Secrets of other systems: never let the browser offer the admin's own password here.
SECRET_INPUT = {"autocomplete": "new-password", "spellcheck": "false"}


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class AdminForm(FlaskForm):
    """A form whose problems the page lists at the top, each linking to its field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (path-named message, id of the field or list it is about) from a service.
        self.summary_errors: list[tuple[str, str | None]] = []

    def shape_errors(self) -> list[tuple[str, str]]:
        """Every field error the form itself found, as (label: message, field id)."""
        found: list[tuple[str, str]] = []

        def walk(fields: Any, prefix: str) -> None:
            for fld in fields:
                if isinstance(fld, FieldList):
                    for number, entry in enumerate(fld.entries, start=1):
                        walk(entry.form, f"{prefix}{fld.label.text} row {number}, ")
                elif fld.errors and isinstance(fld.errors, list | tuple):
                    for message in fld.errors:
                        found.append((f"{prefix}{fld.label.text}: {message}", fld.id))

        walk(self, "")
        return found


class ConfigForm(AdminForm):
    """A configuration object's form; ``group_errors`` holds service errors about a whole list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group_errors: dict[str, list[str]] = {}

    def drop_code(self) -> None:
        """On edit the code names the object and is not editable."""
        del self["code"]


class LoginForm(FlaskForm):
    email = StringField(
        "Email",
        validators=[DataRequired(), Length(max=254)],
        filters=[_strip],
        render_kw={"autocomplete": "username", "type": "email"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class ApiTokenForm(AdminForm):
    name = StringField(
        "Token name",
        validators=[DataRequired(), Length(max=100)],
        filters=[_strip],
        description="For example: ci-deploy or terraform.",
    )


class RevokeTokenForm(FlaskForm):
    name = HiddenField(validators=[DataRequired(), Length(max=100)])


class BrazeConnectionForm(ConfigForm):
    code = StringField(
        "Code",
        validators=[DataRequired(), Length(max=64)],
        filters=[_strip],
        description=CODE_HINT.capitalize() + ". It cannot be changed later.",
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=200)], filters=[_strip])
    rest_endpoint = StringField(
        "REST endpoint",
        validators=[DataRequired(), Length(max=300)],
        filters=[_strip],
        description="Your Braze instance's REST endpoint, e.g. https://rest.iad-03.braze.com",
    )
    api_key = PasswordField("API key", validators=[Length(max=2000)], render_kw=SECRET_INPUT)
    identity = SelectField("Visitors map to Braze users by", choices=IDENTITY_CHOICES)
    sandbox = BooleanField("Sandbox: record requests here instead of sending them to Braze")
    create_missing_users = BooleanField("Create visitors Braze does not know yet")
    budget_share = FloatField(
        "Share of the Braze request budget",
        validators=[Optional(), NumberRange(min=0, max=1)],
        description="More than 0 and at most 1; the rest of the workspace's rate limit is left "
        "to your other tools. Empty means 0.8.",
    )
    s3_bucket = StringField(
        "Bucket",
        validators=[Length(max=200)],
        filters=[_strip],
        description="Leave empty when profile sync is not used.",
    )
    s3_prefix = StringField("Prefix", validators=[Length(max=300)], filters=[_strip])
    s3_region = StringField("Region", validators=[Length(max=50)], filters=[_strip])
    s3_endpoint_url = StringField(
        "Endpoint URL",
        validators=[Length(max=300)],
        filters=[_strip],
        description="Only for S3-compatible stores.",
    )
    s3_access_key_id = StringField("Access key id", validators=[Length(max=200)], filters=[_strip])
    s3_secret_access_key = PasswordField(
        "Secret access key", validators=[Length(max=2000)], render_kw=SECRET_INPUT
    )


class SigningKeyRow(Form):
    kid = StringField("Key id (kid)", validators=[Length(max=100)], filters=[_strip])
    algorithm = SelectField("Algorithm", choices=ALGORITHM_CHOICES, default="HS256")
    secret = PasswordField(
        "HS256 secret",
        validators=[Length(max=1000)],
        description=f"For HS256 only: at least {MIN_HS256_SECRET} random characters.",
        render_kw=SECRET_INPUT,
    )
    public_key = TextAreaField(
        "Public key (PEM)",
        validators=[Length(max=10000)],
        filters=[_strip],
        description="For ES256 and RS256 only.",
    )
    remove = BooleanField("Remove this key")


class CaptureRow(Form):
    source = SelectField("Source", choices=CAPTURE_CHOICES, default="")
    key = StringField("Key", validators=[Length(max=200)], filters=[_strip])


class PropertyForm(ConfigForm):
    code = StringField(
        "Code",
        validators=[DataRequired(), Length(max=64)],
        filters=[_strip],
        description=CODE_HINT.capitalize() + ". It cannot be changed later.",
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=200)], filters=[_strip])
    allowed_origins = TextAreaField(
        "Allowed origins",
        validators=[Length(max=20000)],
        description="One origin a line, e.g. https://www.example.com",
    )
    signing_keys = FieldList(FormField(SigningKeyRow), "Signing keys", max_entries=MAX_ROWS)
    identity_capture = FieldList(FormField(CaptureRow), "Identity capture", max_entries=MAX_ROWS)
    email_verification = BooleanField("Offer email verification with a one-time code")
    languages = StringField(
        "Languages",
        validators=[Length(max=500)],
        filters=[_strip],
        description="ISO 639-1 codes separated by commas, e.g. en, es; empty means en.",
    )
    subscriptions_mode = RadioField(
        "Subscriptions shown",
        choices=[
            SelectChoice("all", "All subscriptions"),
            SelectChoice("some", "Only the ones selected below"),
        ],
        default="all",
    )
    subscriptions = SelectMultipleField(
        "Selected subscriptions",
        choices=[],
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    theme = TextAreaField(
        "Theme",
        validators=[Length(max=5000)],
        description="One setting a line as name: value, e.g. accent-color: #0b5fff",
    )
    token_max_ttl = IntegerField(
        "Token max lifetime (seconds)",
        validators=[Optional()],
        description=f"Visitor tokens that live longer are refused: {MIN_TOKEN_TTL} to "
        f"{MAX_TOKEN_TTL}; empty means {MAX_TOKEN_TTL}.",
    )

    def validate_theme(self, field: TextAreaField) -> None:
        for number, line in enumerate((field.data or "").splitlines(), start=1):
            if line.strip() and ":" not in line:
                raise ValidationError(f"Line {number} is not in the form name: value.")


class TextRow(Form):
    language = StringField("Language", validators=[Length(max=20)], filters=[_strip])
    name = StringField("Name", validators=[Length(max=200)], filters=[_strip])
    description = TextAreaField("Description", validators=[Length(max=2000)], filters=[_strip])

    def validate_language(self, field: StringField) -> None:
        if (self.name.data or self.description.data) and not field.data:
            raise ValidationError("Say which language this text is in.")


class ChannelRow(Form):
    channel = SelectField("Channel", choices=CHANNEL_CHOICES, default="")
    connection = SelectField(
        "Braze connection", choices=[NO_CHOICE], default="", validate_choice=False
    )
    subscription_group_id = StringField(
        "Subscription group id", validators=[Length(max=100)], filters=[_strip]
    )
    remove = BooleanField("Remove this channel")


class SubscriptionForm(ConfigForm):
    code = StringField(
        "Code",
        validators=[DataRequired(), Length(max=64)],
        filters=[_strip],
        description=CODE_HINT.capitalize() + ". It cannot be changed later.",
    )
    position = IntegerField(
        "Position",
        validators=[Optional()],
        description="Subscriptions are shown by position, then code; empty means 0.",
    )
    texts = FieldList(FormField(TextRow), "Texts", max_entries=MAX_ROWS)
    channels = FieldList(FormField(ChannelRow), "Channels", max_entries=MAX_ROWS)
