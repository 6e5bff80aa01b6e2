"""Two-way reconciliation rules (PRODUCT §2 flow 5): what a Braze-side state means for Optline.

The most recent explicit action wins:
- ``/email/unsubscribes`` gives a time T. A global email unsubscribe turns every email channel of
  every topic of that person to "unsubscribed", but only the choices made before T; a choice made
  in Optline after T stands. The global state is recorded only when no email choice is newer.
- ``/subscription/user/status`` gives no times. A difference is Braze-side news only when
  Optline's own latest change for that row already reached Braze (sync_status "synced"); a pending
  or failed Optline change wins and goes out as usual.

Both rules compare states first, so applying the same Braze data twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from backend.domain.preferences import Change

FIRST_RUN_DAYS = 30
# Re-read a day before the last success: late-arriving rows and day-granular filters.
OVERLAP = timedelta(days=1)
ACTIVE_DAYS = 30
STATES = ("subscribed", "unsubscribed")

Key = tuple[str, str]  # (subscription code, channel)


@dataclass(frozen=True)
class LocalRow:
    state: str
    updated_at: datetime
    sync_status: str | None


@dataclass(frozen=True)
class Decision:
    changes: list[Change]
    outcome: str  # changed | unchanged | skipped
    set_global: bool = False


@dataclass
class ReconcileReport:
    connection: str
    window: tuple[str, str] = ("", "")
    checked: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    unsubscribes_read: int = 0
    unmatched: int = 0  # unsubscribed addresses no subject has
    subjects_checked: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)

    def count(self, outcome: str, n: int = 1) -> None:
        self.checked += n
        setattr(self, outcome, getattr(self, outcome) + n)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["window"] = {"start_date": self.window[0], "end_date": self.window[1]}
        return out


def unsubscribe_window(
    now: datetime, last_success: datetime | None, since: datetime | date | None = None
) -> tuple[date, date]:
    """The days to ask ``/email/unsubscribes`` for: from ``since``, else a day before the last
    success, else 30 days back; up to tomorrow, so today's rows are in whatever "end" means."""
    if isinstance(since, datetime):
        start = since.astimezone(UTC).date()
    elif isinstance(since, date):
        start = since
    elif last_success is not None:
        start = (last_success - OVERLAP).astimezone(UTC).date()
    else:
        start = (now - timedelta(days=FIRST_RUN_DAYS)).astimezone(UTC).date()
    end = now.astimezone(UTC).date() + timedelta(days=1)
    return min(start, end), end


def parse_unsubscribe(row: Mapping[str, Any]) -> tuple[str, datetime] | None:
    """``{"email", "unsubscribed_at"}`` → (lower-cased email, aware time); None when unusable."""
    email, raw = row.get("email"), row.get("unsubscribed_at")
    if not isinstance(email, str) or "@" not in email or not isinstance(raw, str):
        return None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return email.strip().lower(), at


def plan_email_unsubscribe(
    rows: Mapping[Key, LocalRow],
    email_keys: Sequence[Key],
    at: datetime,
    global_state: str | None,
) -> Decision:
    """A global email unsubscribe at ``at`` against one person's email choices."""
    changes: list[Change] = []
    newer_kept = False
    all_older = True
    for key in email_keys:
        row = rows.get(key)
        if row is None:
            continue
        if row.updated_at >= at:
            all_older = False
            newer_kept = newer_kept or row.state == "subscribed"
        elif row.state == "subscribed":
            changes.append(Change(key[0], key[1], "unsubscribed"))
    set_global = all_older and global_state != "unsubscribed"
    if changes or set_global:
        outcome = "changed"
    elif newer_kept:
        outcome = "skipped"
    else:
        outcome = "unchanged"
    return Decision(changes=changes, outcome=outcome, set_global=set_global)


def plan_group_states(
    rows: Mapping[Key, LocalRow], braze_states: Mapping[Key, str]
) -> tuple[list[Change], dict[str, int]]:
    """Braze's per-group states against Optline's rows; the changes to apply, and the tally."""
    changes: list[Change] = []
    tally = {"changed": 0, "unchanged": 0, "skipped": 0}
    for key, braze_state in sorted(braze_states.items()):
        if braze_state not in STATES:
            continue
        row = rows.get(key)
        shown = row.state if row else "unsubscribed"  # never chosen is shown as unsubscribed
        if shown == braze_state:
            tally["unchanged"] += 1
        elif row is not None and row.sync_status != "synced":
            tally["skipped"] += 1  # Optline's own change has not reached Braze yet: it wins
        else:
            changes.append(Change(key[0], key[1], braze_state))
            tally["changed"] += 1
    return changes, tally
