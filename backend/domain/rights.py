"""Rules of rights requests (PRODUCT §2 flow 4): what a request may say, its life, its views,
and the shape of the access document.

Statuses: received → in_progress → completed | failed. A job that hits a retryable failure puts
the request back to received (with the reason) so the next attempt can claim it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backend.domain.email_codes import normalise_email
from backend.domain.errors import FieldError, ValidationError
from backend.domain.preferences import property_code
from backend.domain.rate_budget import BURST_FRACTION, BucketSpec

TYPES = ("access", "erasure")
STATUSES = ("received", "in_progress", "completed", "failed")
OPEN_STATUSES = ("received", "in_progress")
SOURCES = ("widget", "admin", "api")
DOWNLOAD_TTL = timedelta(days=7)
# A request untouched this long while open is picked up again by the periodic sweep.
STUCK_AFTER = timedelta(minutes=10)
MAX_EXTERNAL_ID = 255
DOCUMENT_FORMAT = "optline.access-export/1"
# /users/export/ids fields worth showing a person (braze_api.md §5); campaigns_received and
# canvases_received are left out: they are large and keep the 40 req/s raised limit available.
ACCESS_EXPORT_FIELDS: tuple[str, ...] = (
    "external_id",
    "braze_id",
    "user_aliases",
    "email",
    "phone",
    "first_name",
    "last_name",
    "dob",
    "gender",
    "country",
    "home_city",
    "language",
    "time_zone",
    "created_at",
    "email_subscribe",
    "push_subscribe",
    "custom_attributes",
    "custom_events",
    "purchases",
    "total_revenue",
    "devices",
    "apps",
    "attributed_campaign",
    "attributed_source",
)
# braze_api.md §0.5: 250 requests a minute for workspaces onboarded since 2024-08-22.
EXPORT_IDS_LIMIT = (250, 60.0)
# §0.5: /users/delete and /users/alias/new share 20,000 a minute.
IDENTITY_LIMIT = (20000, 60.0)


@dataclass(frozen=True)
class AdminRequest:
    type: str
    external_id: str | None
    email: str | None


@dataclass(frozen=True)
class VisitorRequest:
    property: str
    type: str


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError("body: must be a JSON object")
    return body


def _type(body: Mapping[str, Any]) -> str:
    value = body.get("type")
    if value not in TYPES:
        raise ValidationError(FieldError("type", "must be 'access' or 'erasure'"))
    return str(value)


def parse_admin_request(body: Any) -> AdminRequest:
    """``{"type", "external_id"}`` or ``{"type", "email"}``; unknown keys are refused."""
    body = _object(body)
    unknown = sorted(set(body) - {"type", "external_id", "email"})
    if unknown:
        raise ValidationError(
            FieldError(unknown[0], "unknown key; expected type and one of external_id or email")
        )
    kind = _type(body)
    external_id, email = body.get("external_id"), body.get("email")
    if (external_id is None) == (email is None):
        raise ValidationError(FieldError("external_id", "give exactly one of external_id or email"))
    if external_id is not None:
        if not isinstance(external_id, str) or not external_id.strip():
            raise ValidationError(FieldError("external_id", "must be a non-empty string"))
        if len(external_id) > MAX_EXTERNAL_ID:
            raise ValidationError(
                FieldError("external_id", f"at most {MAX_EXTERNAL_ID} characters")
            )
        return AdminRequest(kind, external_id.strip(), None)
    return AdminRequest(kind, None, normalise_email(email))


def parse_visitor_request(body: Any) -> VisitorRequest:
    """``{"property", "type"}``; an erasure needs ``"confirm": true`` (the widget asks first)."""
    body = _object(body)
    code = property_code(body)
    kind = _type(body)
    confirm = body.get("confirm", False)
    if not isinstance(confirm, bool):
        raise ValidationError(FieldError("confirm", "must be true or false"))
    if kind == "erasure" and not confirm:
        raise ValidationError(
            FieldError("confirm", "an erasure deletes your data for good; send confirm: true")
        )
    return VisitorRequest(code, kind)


def token_hash(token: str) -> str:
    """Download tokens are long random strings: a fast hash is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_stuck(status: str, updated_at: datetime, now: datetime) -> bool:
    return status in OPEN_STATUSES and now - updated_at > STUCK_AFTER


def bucket(limit: tuple[int, float], share: float) -> BucketSpec:
    """The token bucket of one Braze endpoint for our share of the workspace (as rate_budget)."""
    requests, window = limit
    share = min(1.0, max(0.01, share))
    per_window = requests * share
    capacity = max(1.0, per_window * BURST_FRACTION)
    return BucketSpec(capacity=capacity, refill_per_second=(per_window - capacity) / window)


def chunked(values: Sequence[Any], size: int = 50) -> list[Sequence[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def status_view(
    *,
    public_id: str,
    type: str,
    status: str,
    source: str,
    created_at: datetime,
    updated_at: datetime,
    completed_at: datetime | None,
    error: str | None,
    download_url: str | None,
    download_expires_at: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """What the admin API and the visitor see; the link only while it works."""
    view: dict[str, Any] = {
        "id": public_id,
        "type": type,
        "status": status,
        "source": source,
        "created_at": created_at.isoformat(),
        "updated_at": updated_at.isoformat(),
        "completed_at": completed_at.isoformat() if completed_at else None,
    }
    if status == "failed" and error:
        view["error"] = error
    if type == "access" and status == "completed" and download_expires_at is not None:
        view["download_expires_at"] = download_expires_at.isoformat()
        if download_url and download_expires_at > now:
            view["download_url"] = download_url
        else:
            view["download_expired"] = True
    return view


def access_document(
    *,
    request: Mapping[str, Any],
    generated_at: datetime,
    identifiers: Mapping[str, Any],
    preferences: Sequence[Mapping[str, Any]],
    ledger: Sequence[Mapping[str, Any]],
    profiles: Sequence[Mapping[str, Any]],
    rights_requests: Sequence[Mapping[str, Any]],
    braze: Mapping[str, Any],
) -> dict[str, Any]:
    """One JSON document with everything Optline and Braze hold about the person."""
    return {
        "format": DOCUMENT_FORMAT,
        "generated_at": generated_at.isoformat(),
        "request": dict(request),
        "identifiers": dict(identifiers),
        "preferences": list(preferences),
        "consent_ledger": list(ledger),
        "profiles": list(profiles),
        "rights_requests": list(rights_requests),
        "braze": dict(braze),
        "notes": (
            "preferences: your current choices; consent_ledger: every choice recorded, newest "
            "first; profiles: Optline's profile store; braze: what each connected Braze "
            "workspace holds (POST /users/export/ids)."
        ),
    }


def access_mail(link: str, expires_at: datetime) -> tuple[str, str]:
    """Subject and body of the mail that carries the download link."""
    subject = "Your data is ready to download"
    body = (
        "You asked for a copy of the data we hold about you.\n\n"
        f"Download it here (the link works until {expires_at:%Y-%m-%d %H:%M} UTC):\n{link}\n\n"
        "If you did not ask for this, you can ignore this message.\n"
    )
    return subject, body
