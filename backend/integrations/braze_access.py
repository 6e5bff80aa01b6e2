"""The admin's "Test connection": which permissions a key has, by probes that change nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from backend.domain.errors import PermanentError, RetryableError
from backend.integrations.braze_responses import AccessCheck

if TYPE_CHECKING:
    from backend.integrations.braze import BrazeClient

# An external_id no real profile has: probes with it read nothing and change nothing.
PROBE_EXTERNAL_ID = "optline-connection-test"


def _probes(client: BrazeClient) -> list[tuple[str, Callable[[], object]]]:
    today = datetime.fromtimestamp(client._now(), UTC).date()
    probe_ids = [PROBE_EXTERNAL_ID]
    return [
        ("segments.list", lambda: client.segments_list(0)),
        ("email.unsubscribe", lambda: client.email_unsubscribes(today, today, limit=1)),
        (
            "subscription.groups.get",
            lambda: client.subscription_user_status(external_ids=probe_ids),
        ),
        (
            "users.export.ids",
            lambda: client.users_export_ids(
                external_ids=probe_ids, fields_to_export=["external_id"]
            ),
        ),
        (
            "users.track",
            # Updates nothing: that user does not exist and may not be created.
            lambda: client.users_track(
                attributes=[{"external_id": PROBE_EXTERNAL_ID, "_update_existing_only": True}]
            ),
        ),
    ]


def probe_access(client: BrazeClient) -> list[AccessCheck]:
    """One AccessCheck per permission Optline needs, in words an admin can act on.

    A 401 or no answer on the first probe means nothing else can work: report only that.
    """
    checks: list[AccessCheck] = []
    for position, (permission, probe) in enumerate(_probes(client)):
        try:
            probe()
        except PermanentError as exc:
            if exc.status == 401 and position == 0:
                return [AccessCheck(permission, False, "API key rejected")]
            if exc.status in (401, 403):  # newest docs: 401 can also mean a missing permission
                checks.append(AccessCheck(permission, False, "missing permission"))
            elif exc.status == 404:
                checks.append(AccessCheck(permission, False, "endpoint not found"))
            else:  # Braze got past its permission check and disliked the probe itself
                checks.append(AccessCheck(permission, True, "ok"))
        except RetryableError as exc:
            if exc.status is None:
                if position == 0:
                    return [AccessCheck(permission, False, str(exc))]
                message = str(exc)
            elif exc.status == 429:
                message = "rate limited: try again later"
            else:
                message = f"Braze error {exc.status}: try again later"
            checks.append(AccessCheck(permission, False, message))
        else:
            checks.append(AccessCheck(permission, True, "ok"))
    return checks
