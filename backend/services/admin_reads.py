"""Small reads behind the settings page that no other service offers in the shape a page needs:
the dev mail outbox, a run's first per-row errors, one connection's sync status, dead letters
with masked identifiers, and a visitor's choices over every topic × channel."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backend.db.models import MailMessage, Profile, SyncRun, SyncRunError
from backend.domain.errors import NotFoundError
from backend.domain.preferences import mask_email
from backend.services import configuration, outbox_admin, preferences, sync_schedules
from backend.services.deps import Deps

RUN_ERRORS_SHOWN = 100
MAIL_PAGE_MAX = 200
DEAD_SHOWN = 200


def list_mail(deps: Deps, *, limit: int = 50, before_id: int | None = None) -> list[dict[str, Any]]:
    """Mail Optline recorded (sent, failed, or only shown in development), newest first."""
    query = select(MailMessage).order_by(MailMessage.id.desc()).limit(min(limit, MAIL_PAGE_MAX))
    if before_id is not None:
        query = query.where(MailMessage.id < before_id)
    with deps.session() as session:
        return [_mail(m, with_body=False) for m in session.scalars(query)]


def get_mail(deps: Deps, message_id: int) -> dict[str, Any]:
    with deps.session() as session:
        message = session.get(MailMessage, message_id)
        if message is None:
            raise NotFoundError(f"mail message {message_id} does not exist")
        return _mail(message, with_body=True)


def _mail(message: MailMessage, *, with_body: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": message.id,
        "at": message.at.isoformat(),
        "to": message.to_address,
        "subject": message.subject,
        "status": message.status,
        "purpose": message.purpose,
    }
    if with_body:
        view["body"] = message.body
        view["error"] = (message.meta or {}).get("error")
    return view


def run_errors(deps: Deps, run_id: int, *, limit: int = RUN_ERRORS_SHOWN) -> list[dict[str, Any]]:
    """A run's first per-row errors, with the profile each one is about where known."""
    with deps.session() as session:
        if session.get(SyncRun, run_id) is None:
            raise NotFoundError(f"sync run {run_id} does not exist")
        rows = session.execute(
            select(
                SyncRunError.row_ref,
                Profile.external_id,
                Profile.profile_key,
                SyncRunError.field,
                SyncRunError.message,
            )
            .outerjoin(Profile, Profile.id == SyncRunError.profile_id)
            .where(SyncRunError.run_id == run_id)
            .order_by(SyncRunError.id)
            .limit(limit)
        ).all()
    return [
        {"row": ref, "external_id": ext, "profile": key, "field": field, "message": message}
        for ref, ext, key, field, message in rows
    ]


def connection_status(deps: Deps, code: str) -> dict[str, Any]:
    """One sync connection as ``optline sync status`` shows it: goals, next and last runs."""
    for status in sync_schedules.sync_status(deps):
        if status["connection"] == code:
            return status
    raise NotFoundError(f"sync connection {code!r} does not exist")


def mask_identifier(kind: str | None, value: str | None) -> str:
    """Enough of an identifier to recognise it on the page, not to harvest it."""
    if not value:
        return ""
    if kind == "email" or "@" in value:
        return mask_email(value) or "***"
    if len(value) <= 4:
        return value[:1] + "***"
    return f"{value[:2]}***{value[-2:]}"


def dead_letters(deps: Deps, *, connection: str | None = None) -> dict[str, Any]:
    """Outbox depth and lag, and the dead rows with masked identifiers (no raw ones)."""
    summary = outbox_admin.outbox_summary(
        deps, status="dead", connection=connection, limit=DEAD_SHOWN
    )
    entries = []
    for entry in summary.pop("entries", []):
        identifier = entry.pop("identifier", None)
        entry["identifier_masked"] = mask_identifier(entry.get("identifier_type"), identifier)
        entries.append(entry)
    return {**summary, "dead": entries}


def visitor_choices(
    deps: Deps, *, external_id: str | None = None, email: str | None = None
) -> list[dict[str, Any]]:
    """Every topic × channel with the person's state and sync status (None: never chosen)."""
    rows = preferences.admin_preferences(deps, external_id=external_id, email=email)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:  # an email may name several people: the newest choice is shown
        key = (row["subscription"], row["channel"])
        if key not in latest or row["updated_at"] > latest[key]["updated_at"]:
            latest[key] = row
    result = []
    for topic in configuration.list_objects(deps, "subscriptions"):
        names = topic.get("name") or {}
        if isinstance(names, dict):
            name = names.get("en") or next(iter(names.values()), topic["code"])
        else:
            name = str(names)
        for channel in topic.get("channels") or []:
            key = (topic["code"], channel["channel"])
            found = latest.pop(key, None)
            result.append(_choice(topic["code"], name, channel["channel"], found))
    # Choices on channels no longer configured stay visible.
    result += [_choice(sub, sub, ch, row) for (sub, ch), row in latest.items()]
    return result


def _choice(code: str, name: str, channel: str, row: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "subscription": code,
        "name": name,
        "channel": channel,
        "state": row["state"] if row else None,
        "sync_status": row["sync_status"] if row else None,
        "updated_at": row["updated_at"] if row else None,
    }
