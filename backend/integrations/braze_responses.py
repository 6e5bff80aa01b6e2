"""What Braze answers, read into our types: rate-limit headers, results and our own errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from backend.domain.errors import IntegrationError, ItemError, PermanentError, RetryableError

# A Reset value below this is "seconds from now" (MAU-contract users/track), above it an epoch
# (braze_api.md §0.5).
EPOCH_THRESHOLD = 1e9

# Permission a REST key needs per endpoint (braze_api.md §0.3, basics.md).
PERMISSIONS: dict[str, str] = {
    "/users/track": "users.track",
    "/users/delete": "users.delete",
    "/users/alias/new": "users.alias.new",
    "/users/identify": "users.identify",
    "/users/export/ids": "users.export.ids",
    "/users/export/segment": "users.export.segment",
    "/subscription/status/set": "subscription.status.set",
    "/v2/subscription/status/set": "subscription.status.set",
    "/subscription/status/get": "subscription.status.get",
    "/subscription/user/status": "subscription.groups.get",
    "/email/unsubscribes": "email.unsubscribe",
    "/email/status": "email.status",
    "/email/blocklist": "email.blacklist",
    "/email/blacklist": "email.blacklist",
    "/campaigns/list": "campaigns.list",
    "/campaigns/details": "campaigns.details",
    "/segments/list": "segments.list",
    "/segments/details": "segments.details",
}


@dataclass(frozen=True)
class RateLimit:
    """Braze's budget after a call, so callers can slow down before they hit a 429."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds
    retry_after: float | None = None  # seconds to wait, as of when the response arrived

    def wait_seconds(self, now: float) -> float | None:
        """Seconds to wait before the next call can succeed, when Braze said so."""
        if self.retry_after is not None:
            return max(0.0, self.retry_after)
        if self.reset_at is not None:
            return max(0.0, self.reset_at - now)
        return None


@dataclass(frozen=True)
class BrazeResponse:
    """One successful Braze answer: status, parsed JSON body ({} when none) and rate limit."""

    status: int
    body: dict[str, Any]
    rate: RateLimit


@dataclass(frozen=True)
class TrackResult:
    """A /users/track answer: objects queued per array and the ones Braze rejected."""

    processed: dict[str, int]
    errors: list[ItemError]
    rate: RateLimit

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class UserGroupStatus:
    """One user's state in one subscription group, whichever response shape Braze used."""

    group_id: str
    state: str  # lower-case: "subscribed" | "unsubscribed" | "unknown"
    external_id: str | None = None
    email: str | None = None
    phone: str | None = None
    channel: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class AccessCheck:
    """The answer to "may this key do X?" for the admin's Test connection button."""

    permission: str
    ok: bool
    message: str


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def _seconds_until(value: str | None, now: float) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        return max(0.0, parsedate_to_datetime(value.strip()).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def parse_rate_limit(headers: Mapping[str, str], now: float) -> RateLimit:
    """Read Braze's rate-limit headers whatever their case (HTTP/2 lower-cases them)."""
    lower = {k.lower(): v for k, v in headers.items()}
    limit = _number(lower.get("x-ratelimit-limit"))
    remaining = _number(lower.get("x-ratelimit-remaining"))
    reset = _number(lower.get("x-ratelimit-reset"))
    reset_at = None if reset is None else (now + reset if reset < EPOCH_THRESHOLD else reset)
    retry_after = _seconds_until(lower.get("x-ratelimit-retry-after"), now)
    if retry_after is None:
        retry_after = _seconds_until(lower.get("retry-after"), now)
    return RateLimit(
        limit=None if limit is None else int(limit),
        remaining=None if remaining is None else int(remaining),
        reset_at=reset_at,
        retry_after=retry_after,
    )


def to_item_errors(raw: object) -> list[ItemError]:
    """Braze ``errors[]`` items ({type, input_array, index}) as ItemError, in Braze's order."""
    if not isinstance(raw, list):
        return []
    items: list[ItemError] = []
    for entry in raw:
        if isinstance(entry, Mapping):
            index = entry.get("index")
            extra = {k: v for k, v in entry.items() if k not in ("type", "input_array", "index")}
            items.append(
                ItemError(
                    index=index if isinstance(index, int) else -1,
                    message=str(entry.get("type") or entry.get("message") or "rejected"),
                    input_array=str(entry.get("input_array") or "attributes"),
                    extra=extra,
                )
            )
        else:
            items.append(ItemError(index=-1, message=str(entry)))
    return items


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def to_user_group_statuses(
    body: Mapping[str, Any],
    external_ids: Sequence[str] | None = None,
    emails: Sequence[str] | None = None,
) -> list[UserGroupStatus]:
    """Normalise both documented /subscription/user/status shapes (braze_api.md §2.4)."""
    out: list[UserGroupStatus] = []
    users = body.get("users")
    if isinstance(users, list):
        for user in users:
            if not isinstance(user, Mapping):
                continue
            for group in user.get("subscription_groups") or []:
                if not isinstance(group, Mapping):
                    continue
                out.append(
                    UserGroupStatus(
                        group_id=str(group.get("id") or group.get("subscription_group_id") or ""),
                        state=str(
                            group.get("status") or group.get("subscription_status") or "unknown"
                        ).lower(),
                        external_id=_text(user.get("external_id")),
                        email=_text(user.get("email")),
                        phone=_text(user.get("phone")),
                        channel=_text(group.get("channel")),
                        name=_text(group.get("name")),
                    )
                )
        return out
    # The older documented shape names no user: attribute it when exactly one was asked about.
    only_id = external_ids[0] if external_ids and len(external_ids) == 1 else None
    only_email = emails[0] if emails and len(emails) == 1 and not external_ids else None
    for group in body.get("subscription_groups") or []:
        if isinstance(group, Mapping):
            out.append(
                UserGroupStatus(
                    group_id=str(group.get("subscription_group_id") or group.get("id") or ""),
                    state=str(
                        group.get("subscription_status") or group.get("status") or "unknown"
                    ).lower(),
                    external_id=only_id,
                    email=only_email,
                )
            )
    return out


def _error_items(body: Mapping[str, Any]) -> list[dict[str, object]]:
    raw = body.get("errors")
    if not isinstance(raw, list):
        return []
    return [dict(e) if isinstance(e, Mapping) else {"message": str(e)} for e in raw]


@dataclass(frozen=True)
class FailedCall:
    """What we know about a non-2xx answer, enough to word an error."""

    method: str
    path: str
    status: int
    body: Mapping[str, Any] = field(default_factory=dict)
    rate: RateLimit = field(default_factory=RateLimit)


def translate_error(call: FailedCall, now: float) -> IntegrationError:
    """Turn a Braze failure into RetryableError / PermanentError with a message an admin can act on.

    Branches on the status code only: Braze's error texts are not documented (braze_api.md §0.4).
    """
    status, where = call.status, f"{call.method} {call.path}"
    braze_message = _text(call.body.get("message")) or _text(call.body.get("error")) or ""
    said = f" (Braze said: {braze_message})" if braze_message else ""
    if status == 429:
        wait = call.rate.wait_seconds(now)
        when = f"; retry in {wait:.0f}s" if wait is not None else ""
        return RetryableError(
            f"Braze rate limit reached on {where} (429){when}", status=status, retry_after=wait
        )
    if status >= 500:
        return RetryableError(
            f"Braze server error {status} on {where}{said}",
            status=status,
            retry_after=call.rate.retry_after,
        )
    if status == 401:
        return PermanentError(
            "Braze rejected the API key (401): check the key and the REST endpoint/instance",
            status=status,
        )
    if status == 403:
        permission = PERMISSIONS.get(call.path, call.path)
        return PermanentError(
            f"The API key lacks the '{permission}' permission (403){said}: Braze keys cannot be "
            "edited, so create a key that includes it",
            status=status,
        )
    if status == 404:
        return PermanentError(
            f"Braze has no endpoint {where} (404): check the REST endpoint", status=status
        )
    if 300 <= status < 400:
        return PermanentError(
            f"Braze answered {where} with a redirect ({status}): check the REST endpoint",
            status=status,
        )
    errors = _error_items(call.body)
    detail = ""
    if errors:
        shown = "; ".join(str(e.get("type") or e.get("message") or e) for e in errors[:3])
        more = f" and {len(errors) - 3} more" if len(errors) > 3 else ""
        detail = f" — {shown}{more}"
    return PermanentError(
        f"Braze rejected {where} ({status}): {braze_message or 'no reason given'}{detail}",
        status=status,
        errors=errors,
    )
