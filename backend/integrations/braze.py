"""Braze REST client: the one place Optline talks HTTP to Braze, with its limits checked up front.

Every call goes through ``_send``; failures leave this module as ``RetryableError`` (429, 5xx,
timeouts, connection errors) or ``PermanentError`` (bad key, missing permission, bad input).
Typed methods refuse batches larger than Braze accepts: callers batch, this module never splits.

``users_track`` and a fully rejected batch: Braze answers 400 when *no* object was valid. We raise
``PermanentError`` then, with Braze's per-object items in ``.errors``; a partly rejected batch comes
back as a ``TrackResult`` whose ``errors`` hold the same items. ``to_item_errors(exc.errors)`` maps
the first case into the second's form, so callers attribute failures per object either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any

import requests

from backend import __version__
from backend.domain.braze_hosts import normalise_rest_endpoint
from backend.domain.errors import PermanentError, RetryableError
from backend.integrations.braze_access import PROBE_EXTERNAL_ID, probe_access
from backend.integrations.braze_responses import (
    PERMISSIONS,
    AccessCheck,
    BrazeResponse,
    FailedCall,
    RateLimit,
    TrackResult,
    UserGroupStatus,
    parse_rate_limit,
    to_item_errors,
    to_user_group_statuses,
    translate_error,
)

__all__ = [
    "PERMISSIONS",
    "PROBE_EXTERNAL_ID",
    "AccessCheck",
    "BrazeClient",
    "BrazeResponse",
    "RateLimit",
    "TrackResult",
    "UserGroupStatus",
    "parse_rate_limit",
    "to_item_errors",
]

log = logging.getLogger(__name__)

# Batch limits (braze_api.md §1.3, §2, §3–5, §7, §8).
USERS_TRACK_MAX_OBJECTS = 75  # per array: attributes, events, purchases
MAX_IDS_PER_REQUEST = 50  # subscription set/get, delete, alias, export ids, email status/blocklist
SEGMENTS_PAGE_SIZE = 100
UNSUBSCRIBES_MAX_LIMIT = 500
USER_STATUS_MAX_LIMIT = 100
CUSTOM_ATTRIBUTES_EXPORT_MAX = 500

SUBSCRIPTION_STATES = ("subscribed", "unsubscribed")
EMAIL_STATES = ("subscribed", "unsubscribed", "opted_in")
DEFAULT_EXPORT_FIELDS: tuple[str, ...] = (
    "external_id", "braze_id", "user_aliases", "email", "phone", "first_name", "last_name",
    "email_subscribe", "push_subscribe", "custom_attributes",
)  # fmt: skip


def _check_count(what: str, items: Sequence[Any] | None, limit: int) -> None:
    if items is not None and len(items) > limit:
        raise ValueError(f"{what}: {len(items)} given, Braze accepts at most {limit} per request")


def _ids_param(params: dict[str, Any], name: str, values: Sequence[str] | None) -> None:
    """One id as ``name=v``, several as ``name[]=a&name[]=b`` (braze_api.md §2.3)."""
    if values:
        if len(values) == 1:
            params[name] = values[0]
        else:
            params[f"{name}[]"] = list(values)


def _iso_day(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else value


class BrazeClient:
    """Typed access to the Braze REST endpoints Optline uses, over one requests.Session."""

    def __init__(
        self,
        *,
        rest_endpoint: str,
        api_key: str,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        now: Callable[[], float] = time.time,
        observer: Callable[[str, int], None] | None = None,
    ) -> None:
        self.rest_endpoint = normalise_rest_endpoint(rest_endpoint)
        # Told (path, HTTP status; 0 when Braze was unreachable) after every call, for metrics.
        self._observer = observer
        self._api_key = api_key
        self._session = session if session is not None else requests.Session()
        self._owns_session = session is None
        self.timeout = timeout
        self._now = now
        self.last_rate_limit: RateLimit | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rest_endpoint={self.rest_endpoint!r})"

    def close(self) -> None:
        """Release pooled connections when we created the session."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> BrazeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self) -> dict[str, str]:
        # Per request, not on the session: a shared session must not carry our key elsewhere.
        return {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"optline/{__version__}",
        }

    def _observe(self, path: str, status: int) -> None:
        if self._observer is not None:
            try:
                self._observer(path, status)
            except Exception:  # metrics must never break a Braze call
                log.debug("braze observer failed", exc_info=True)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if len(self._api_key) >= 4 else text

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> BrazeResponse:
        """The single HTTP exit: send, read rate-limit headers, translate failures."""
        where = f"{method} {path}"
        try:
            response = self._session.request(
                method,
                self.rest_endpoint + path,
                json=json,
                params=params,
                headers=self._headers(),
                timeout=self.timeout,
                allow_redirects=False,  # a redirect could point the key at another host
            )
        except requests.Timeout as exc:
            self._observe(path, 0)
            raise RetryableError(
                f"Braze unreachable: no answer to {where} within {self.timeout:g}s",
                ambiguous=not isinstance(exc, requests.ConnectTimeout),  # sent, never answered
            ) from exc
        except requests.RequestException as exc:
            self._observe(path, 0)
            raise RetryableError(
                self._redact(f"Braze unreachable: {where} failed ({type(exc).__name__})"),
                ambiguous=_maybe_sent(exc),
            ) from exc
        self._observe(path, response.status_code)
        now = self._now()
        rate = parse_rate_limit(response.headers, now)
        self.last_rate_limit = rate
        try:
            parsed = response.json() if response.content else {}
        except ValueError:
            parsed = {}
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {"data": parsed}
        log.info(
            "braze call",
            extra={
                "braze_call": where,
                "status": response.status_code,
                "rate_remaining": rate.remaining,
            },
        )
        if 200 <= response.status_code < 300:
            return BrazeResponse(status=response.status_code, body=body, rate=rate)
        error = translate_error(FailedCall(method, path, response.status_code, body, rate), now)
        error.args = (self._redact(str(error)),)
        raise error

    # -- users -----------------------------------------------------------------------------

    def users_track(
        self,
        attributes: Sequence[Mapping[str, Any]] = (),
        events: Sequence[Mapping[str, Any]] = (),
        purchases: Sequence[Mapping[str, Any]] = (),
    ) -> TrackResult:
        """Update profiles and log events/purchases (braze_api.md §1).

        https://www.braze.com/docs/api/endpoints/user_data/post_user_track/
        """
        body: dict[str, Any] = {}
        for name, items in (
            ("attributes", attributes),
            ("events", events),
            ("purchases", purchases),
        ):
            _check_count(f"users/track {name}", items, USERS_TRACK_MAX_OBJECTS)
            if items:
                body[name] = [dict(item) for item in items]
        if not body:
            raise ValueError("users/track needs at least one attribute, event or purchase object")
        response = self._send("POST", "/users/track", json=body)
        processed = {
            name: int(response.body.get(f"{name}_processed", len(body[name]))) for name in body
        }
        return TrackResult(
            processed=processed,
            errors=to_item_errors(response.body.get("errors")),
            rate=response.rate,
        )

    def users_delete(
        self,
        *,
        external_ids: Sequence[str] | None = None,
        user_aliases: Sequence[Mapping[str, str]] | None = None,
        braze_ids: Sequence[str] | None = None,
        emails: Sequence[str] | None = None,
        email_prioritization: Sequence[str] = ("most_recently_updated",),
    ) -> int:
        """Erase profiles, irreversibly, for erasure requests (braze_api.md §3).

        An email deletes one profile per call: the one ``email_prioritization`` narrows to; when
        several still match Braze deletes none.

        https://www.braze.com/docs/api/endpoints/user_data/post_user_delete/
        """
        if "identified" in email_prioritization and "unidentified" in email_prioritization:
            raise ValueError(
                "email_prioritization: 'identified' and 'unidentified' exclude each other"
            )
        kinds: dict[str, list[Any]] = {
            "external_ids": list(external_ids or []),
            "user_aliases": [dict(a) for a in user_aliases or []],
            "braze_ids": list(braze_ids or []),
            "email_addresses": [
                {"email": e, "prioritization": list(email_prioritization)} for e in emails or []
            ],
        }
        given = {k: v for k, v in kinds.items() if v}
        if len(given) != 1:
            raise ValueError("users/delete takes exactly one kind of identifier per request")
        ((kind, values),) = given.items()
        _check_count(f"users/delete {kind}", values, MAX_IDS_PER_REQUEST)
        response = self._send("POST", "/users/delete", json={kind: values})
        return int(response.body.get("deleted", 0))

    def users_alias_new(self, aliases: Sequence[Mapping[str, str]]) -> int:
        """Attach aliases, or create alias-only users (braze_api.md §4).

        https://www.braze.com/docs/api/endpoints/user_data/post_user_alias/
        """
        _check_count("users/alias/new user_aliases", aliases, MAX_IDS_PER_REQUEST)
        for alias in aliases:
            if not alias.get("alias_name") or not alias.get("alias_label"):
                raise ValueError("users/alias/new: every alias needs alias_name and alias_label")
        if not aliases:
            raise ValueError("users/alias/new needs at least one alias")
        response = self._send(
            "POST", "/users/alias/new", json={"user_aliases": [dict(a) for a in aliases]}
        )
        return int(response.body.get("aliases_processed", len(aliases)))

    def users_export_ids(
        self,
        *,
        external_ids: Sequence[str] | None = None,
        user_aliases: Sequence[Mapping[str, str]] | None = None,
        email: str | None = None,
        phone: str | None = None,
        braze_id: str | None = None,
        fields_to_export: Sequence[str] = DEFAULT_EXPORT_FIELDS,
    ) -> list[dict[str, Any]]:
        """Read profiles back to compare with ours (braze_api.md §5).

        https://www.braze.com/docs/api/endpoints/export/user_data/post_users_identifier/
        """
        ids = list(external_ids or [])
        aliases = [dict(a) for a in user_aliases or []]
        singles = {"email_address": email, "phone": phone, "braze_id": braze_id}
        kinds = int(bool(ids or aliases)) + sum(1 for v in singles.values() if v)
        if kinds != 1:
            raise ValueError(
                "users/export/ids takes external_ids/user_aliases, or one email, phone or braze_id"
            )
        _check_count(
            "users/export/ids external_ids + user_aliases", ids + aliases, MAX_IDS_PER_REQUEST
        )
        if not fields_to_export:
            raise ValueError("users/export/ids needs fields_to_export (required by new workspaces)")
        body: dict[str, Any] = {"fields_to_export": list(fields_to_export)}
        if ids:
            body["external_ids"] = ids
        if aliases:
            body["user_aliases"] = aliases
        body.update({k: v for k, v in singles.items() if v})
        users = self._send("POST", "/users/export/ids", json=body).body.get("users")
        return [u for u in users if isinstance(u, dict)] if isinstance(users, list) else []

    def users_export_segment(
        self,
        segment_id: str,
        fields_to_export: Sequence[str],
        *,
        custom_attributes_to_export: Sequence[str] | None = None,
        callback_endpoint: str | None = None,
        output_format: str = "gzip",
    ) -> str:
        """Start a bulk export to the workspace's bucket; returns the object prefix (§6).

        https://www.braze.com/docs/api/endpoints/export/user_data/post_users_segment/
        """
        if output_format not in ("zip", "gzip"):
            raise ValueError("output_format must be 'zip' or 'gzip'")
        if not fields_to_export:
            raise ValueError("users/export/segment needs fields_to_export")
        _check_count(
            "users/export/segment custom_attributes_to_export",
            custom_attributes_to_export,
            CUSTOM_ATTRIBUTES_EXPORT_MAX,
        )
        body: dict[str, Any] = {
            "segment_id": segment_id,
            "fields_to_export": list(fields_to_export),
            "output_format": output_format,
        }
        if custom_attributes_to_export:
            body["custom_attributes_to_export"] = list(custom_attributes_to_export)
        if callback_endpoint:
            body["callback_endpoint"] = callback_endpoint
        response = self._send("POST", "/users/export/segment", json=body)
        prefix = response.body.get("object_prefix")
        if not isinstance(prefix, str) or not prefix:
            raise PermanentError("Braze accepted the segment export but sent no object_prefix")
        return prefix

    # -- subscription groups ---------------------------------------------------------------

    def subscription_status_set(
        self,
        group_id: str,
        state: str,
        *,
        external_ids: Sequence[str] | None = None,
        emails: Sequence[str] | None = None,
        phones: Sequence[str] | None = None,
    ) -> None:
        """Set one group's state for up to 50 users (braze_api.md §2.1).

        https://www.braze.com/docs/api/endpoints/subscription_groups/post_update_user_subscription_group_status/
        """
        if state not in SUBSCRIPTION_STATES:
            raise ValueError(f"subscription state must be one of {SUBSCRIPTION_STATES}")
        if emails and phones:
            raise ValueError("subscription/status/set takes emails or phones, not both")
        if not (external_ids or emails or phones):
            raise ValueError("subscription/status/set needs external_ids, emails or phones")
        body: dict[str, Any] = {"subscription_group_id": group_id, "subscription_state": state}
        for key, values in (("external_id", external_ids), ("email", emails), ("phone", phones)):
            _check_count(f"subscription/status/set {key}", values, MAX_IDS_PER_REQUEST)
            if values:
                body[key] = list(values)
        self._send("POST", "/subscription/status/set", json=body)

    def subscription_status_set_v2(self, groups: Sequence[Mapping[str, Any]]) -> None:
        """Set several groups in one call (braze_api.md §2.2).

        https://www.braze.com/docs/api/endpoints/subscription_groups/post_update_user_subscription_group_status_v2/
        """
        if not groups:
            raise ValueError("v2/subscription/status/set needs at least one group")
        for group in groups:
            if not group.get("subscription_group_id"):
                raise ValueError("every group needs a subscription_group_id")
            if group.get("subscription_state") not in SUBSCRIPTION_STATES:
                raise ValueError(f"subscription_state must be one of {SUBSCRIPTION_STATES}")
            if group.get("emails") and group.get("phones"):
                raise ValueError("a group takes emails or phones, not both")
            if not any(group.get(k) for k in ("external_ids", "emails", "phones")):
                raise ValueError("every group needs external_ids, emails or phones")
            for key in ("external_ids", "emails", "phones"):
                _check_count(
                    f"v2/subscription/status/set {key}", group.get(key), MAX_IDS_PER_REQUEST
                )
        self._send(
            "POST",
            "/v2/subscription/status/set",
            json={"subscription_groups": [dict(g) for g in groups]},
        )

    def subscription_status_get(
        self,
        group_id: str,
        *,
        external_ids: Sequence[str] | None = None,
        emails: Sequence[str] | None = None,
        phones: Sequence[str] | None = None,
    ) -> dict[str, str]:
        """Users' state in one group, lower-cased (braze_api.md §2.3).

        https://www.braze.com/docs/api/endpoints/subscription_groups/get_list_user_subscription_group_status/
        """
        if not (external_ids or emails or phones):
            raise ValueError("subscription/status/get needs external_ids, emails or phones")
        if emails and phones and not external_ids:
            raise ValueError("subscription/status/get takes emails or phones, not both")
        params: dict[str, Any] = {"subscription_group_id": group_id}
        for key, values in (("external_id", external_ids), ("email", emails), ("phone", phones)):
            _check_count(f"subscription/status/get {key}", values, MAX_IDS_PER_REQUEST)
            _ids_param(params, key, values)
        status = self._send("GET", "/subscription/status/get", params=params).body.get("status")
        if not isinstance(status, dict):
            return {}
        return {str(k): str(v).lower() for k, v in status.items()}

    def subscription_user_status(
        self,
        *,
        external_ids: Sequence[str] | None = None,
        emails: Sequence[str] | None = None,
        phones: Sequence[str] | None = None,
        limit: int = USER_STATUS_MAX_LIMIT,
        offset: int = 0,
    ) -> list[UserGroupStatus]:
        """Every group a user has a state in, whichever shape Braze answers (braze_api.md §2.4).

        https://www.braze.com/docs/api/endpoints/subscription_groups/get_list_user_subscription_groups/
        """
        if not (external_ids or emails or phones):
            raise ValueError("subscription/user/status needs external_ids, emails or phones")
        if not 1 <= limit <= USER_STATUS_MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {USER_STATUS_MAX_LIMIT}")
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        for key, values in (("external_id", external_ids), ("email", emails), ("phone", phones)):
            _check_count(f"subscription/user/status {key}", values, MAX_IDS_PER_REQUEST)
            _ids_param(params, key, values)
        body = self._send("GET", "/subscription/user/status", params=params).body
        return to_user_group_statuses(body, external_ids, emails)

    # -- segments --------------------------------------------------------------------------

    def segments_list(self, page: int = 0) -> list[dict[str, Any]]:
        """One page (100) of segments, for picking what to import (braze_api.md §8.3).

        https://www.braze.com/docs/api/endpoints/export/segments/get_segment/
        """
        if page < 0:
            raise ValueError("page starts at 0")
        segments = self._send("GET", "/segments/list", params={"page": page}).body.get("segments")
        return [s for s in segments if isinstance(s, dict)] if isinstance(segments, list) else []

    def iter_segments(self) -> Iterator[dict[str, Any]]:
        """Every segment, page by page, until Braze returns a short page."""
        page = 0
        while True:
            segments = self.segments_list(page)
            yield from segments
            if len(segments) < SEGMENTS_PAGE_SIZE:
                return
            page += 1

    # -- email -----------------------------------------------------------------------------

    def email_unsubscribes(
        self,
        start_date: date | str,
        end_date: date | str,
        *,
        limit: int = UNSUBSCRIBES_MAX_LIMIT,
        offset: int = 0,
        sort_direction: str | None = None,
    ) -> list[dict[str, Any]]:
        """Emails unsubscribed between two UTC days, to mirror them (braze_api.md §7.1).

        https://www.braze.com/docs/api/endpoints/email/get_query_unsubscribed_email_addresses/
        """
        if not 1 <= limit <= UNSUBSCRIBES_MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {UNSUBSCRIBES_MAX_LIMIT}")
        params: dict[str, Any] = {
            "start_date": _iso_day(start_date),
            "end_date": _iso_day(end_date),
            "limit": limit,
            "offset": offset,
        }
        if sort_direction:
            params["sort_direction"] = sort_direction
        emails = self._send("GET", "/email/unsubscribes", params=params).body.get("emails")
        return [e for e in emails if isinstance(e, dict)] if isinstance(emails, list) else []

    def iter_email_unsubscribes(
        self,
        start_date: date | str,
        end_date: date | str,
        *,
        page_size: int = UNSUBSCRIBES_MAX_LIMIT,
    ) -> Iterator[dict[str, Any]]:
        """Every unsubscribe in the range, oldest first so new arrivals don't shift the pages."""
        offset = 0
        while True:
            page = self.email_unsubscribes(
                start_date, end_date, limit=page_size, offset=offset, sort_direction="asc"
            )
            yield from page
            if len(page) < page_size:
                return
            offset += page_size

    def email_status(self, emails: Sequence[str], state: str) -> None:
        """Set addresses' global email state, even before a profile has them (braze_api.md §7.2).

        https://www.braze.com/docs/api/endpoints/email/post_email_subscription_status/
        """
        if state not in EMAIL_STATES:
            raise ValueError(f"email state must be one of {EMAIL_STATES}")
        if not emails:
            raise ValueError("email/status needs at least one email")
        _check_count("email/status email", emails, MAX_IDS_PER_REQUEST)
        self._send(
            "POST", "/email/status", json={"email": list(emails), "subscription_state": state}
        )

    def email_blocklist(self, emails: Sequence[str]) -> None:
        """Unsubscribe and hard-bounce addresses (braze_api.md §7.3).

        https://www.braze.com/docs/api/endpoints/email/post_blocklist/
        """
        if not emails:
            raise ValueError("email/blocklist needs at least one email")
        _check_count("email/blocklist email", emails, MAX_IDS_PER_REQUEST)
        self._send("POST", "/email/blocklist", json={"email": list(emails)})

    # -- connection test -------------------------------------------------------------------

    def check_access(self) -> list[AccessCheck]:
        """Which permissions this key has, by probes that change no data ("Test connection")."""
        return probe_access(self)


def _maybe_sent(exc: requests.RequestException) -> bool:
    """False only when the request surely never left: the connection was not even made."""
    if isinstance(exc, requests.ConnectionError):
        text = repr(exc)
        return not ("NewConnectionError" in text or "NameResolutionError" in text)
    return True
