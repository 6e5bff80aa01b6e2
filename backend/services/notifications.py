"""Run notifications: mail to ``notify.emails`` and a JSON POST to ``notify.webhook``, on the
outcomes ``notify.on`` lists (success, failure). A notification never fails its run: mail and
webhook errors are logged (with the run id, never addresses or URLs) and swallowed.
Dry runs and cancelled runs notify no one.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from backend.db.models import SyncConnection, SyncRun
from backend.domain.errors import OptlineError
from backend.services.deps import Deps
from backend.services.mailer import send_mail
from backend.services.sync_config_store import notify_spec
from backend.services.sync_run_views import COUNT_KEYS, counts_of

log = logging.getLogger(__name__)
OUTCOMES = {"succeeded": "success", "failed": "failure"}


def run_link(deps: Deps, run_id: int) -> str:
    return f"{deps.settings.public_url}/admin/runs/{run_id}"


def _message(deps: Deps, run: SyncRun, connection: str) -> tuple[str, str, dict[str, Any]]:
    counts = counts_of(run.counts)
    duration = None
    if run.started_at and run.finished_at:
        duration = round((run.finished_at - run.started_at).total_seconds(), 1)
    link = run_link(deps, run.id)
    subject = f"[Optline] sync {connection} / {run.goal_code}: {run.status}"
    lines = [
        f"Connection: {connection}",
        f"Goal: {run.goal_code} ({run.goal_kind})",
        f"Status: {run.status}",
        f"Trigger: {run.trigger}",
        "Counts: " + ", ".join(f"{counts[k]} {k}" for k in COUNT_KEYS),
        f"Duration: {duration} s" if duration is not None else "Duration: -",
    ]
    if run.error:
        lines.append(f"Error: {run.error}")
    lines += ["", f"Run: {link}"]
    payload = {
        "event": "sync_run." + OUTCOMES.get(run.status, run.status),
        "run": {
            "id": run.id,
            "connection": connection,
            "goal": run.goal_code,
            "kind": run.goal_kind,
            "status": run.status,
            "counts": counts,
            "error": run.error,
            "duration_seconds": duration,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "url": link,
        },
    }
    return subject, "\n".join(lines) + "\n", payload


def notify_run_finished(deps: Deps, run_id: int) -> int:
    """Send what the connection asks for; returns how many notifications went out."""
    try:
        with deps.session() as session:
            run = session.get(SyncRun, run_id)
            if run is None or run.dry_run or run.status not in OUTCOMES:
                return 0
            connection = session.scalars(
                select(SyncConnection).where(SyncConnection.id == run.sync_connection_id)
            ).first()
            if connection is None:
                return 0
            notify = notify_spec(connection.notify or {}, deps.secrets)
            if OUTCOMES[run.status] not in notify.on:
                return 0
            subject, body, payload = _message(deps, run, connection.code)
    except Exception:  # notifying must never fail the run
        log.warning("could not prepare run notification", extra={"run_id": run_id}, exc_info=True)
        return 0
    sent = 0
    for address in notify.emails:
        try:
            send_mail(
                deps,
                to=address,
                subject=subject,
                body=body,
                purpose="sync_run",
                meta={"run_id": run_id},
            )
            sent += 1
        except Exception:
            log.warning("run notification mail failed", extra={"run_id": run_id}, exc_info=True)
    if notify.webhook:
        try:
            from backend.integrations.webhook import post_json

            post = deps.extras.get("webhook_post") or post_json
            post(notify.webhook, payload)
            sent += 1
        except OptlineError as exc:
            log.warning("run notification webhook failed: %s", exc, extra={"run_id": run_id})
        except Exception:
            log.warning("run notification webhook failed", extra={"run_id": run_id}, exc_info=True)
    return sent
