"""Rights requests (PRODUCT §2 flow 4): create, read, run, sweep; and the suppression check
(``is_suppressed``) that keeps erased people from being imported again.

A request row commits before its job is enqueued (with a deterministic id); a failed enqueue is
logged, never raised: the periodic sweep enqueues requests left in received/in_progress for more
than ten minutes. The job claims the request, runs access (``data_export``) or erasure
(``erasure``), and records the outcome. Braze failures worth retrying put the request back to
received and propagate, so RQ retries the job; permanent ones fail the request with the reason.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.db.models import RightsExport, RightsRequest, Subject
from backend.domain import rights as rules
from backend.domain.errors import (
    FieldError,
    ForbiddenError,
    NotFoundError,
    PermanentError,
    RetryableError,
    ValidationError,
)
from backend.domain.identity import VisitorIdentity
from backend.domain.suppression import requester_digest
from backend.services.audit import record_change
from backend.services.catalogue import find_subject, load_property, subjects_named
from backend.services.deps import Deps
from backend.services.suppressions import is_suppressed, salt, suppression_check
from backend.services.widget_identity import authenticate, may_request_data

__all__ = ["is_suppressed", "suppression_check"]

log = logging.getLogger(__name__)

JOB_PATH = "backend.jobs.rights.process_rights_request_job"
QUEUE = "default"
JOB_RETRIES = (30, 120, 600, 1800, 3600)  # seconds between RQ retries of a failed job
MAX_LIST = 200
MAX_ATTEMPTS = 8
DOWNLOAD_PATH = "/rights/download/"


@dataclass(frozen=True)
class Claimed:
    """What a job needs of its request, read when it claimed it."""

    id: int
    public_id: str
    type: str
    source: str
    external_id: str | None
    email: str | None
    subject_id: int | None
    subject_key: str | None
    progress: dict[str, Any] = field(default_factory=dict)


def _public_id() -> str:
    return "rr_" + secrets.token_urlsafe(18)


def enqueue(deps: Deps, request_id: int) -> None:
    """After commit only; Redis being down must not fail the request (the sweep retries)."""
    try:
        if deps.jobs is None:
            raise RuntimeError("no job queue configured")
        from rq import Retry

        deps.jobs.enqueue(
            JOB_PATH,
            request_id,
            queue=QUEUE,
            job_id=f"rights-request-{request_id}",
            retry=Retry(max=len(JOB_RETRIES), interval=list(JOB_RETRIES)),
        )
    except Exception:  # noqa: BLE001 - the sweep picks the request up later
        log.warning("rights request not enqueued; the sweep will", extra={"request": request_id})


def _insert(
    deps: Deps,
    session: Session,
    *,
    kind: str,
    source: str,
    external_id: str | None,
    email: str | None,
    subject: Subject | None,
    property_code: str | None = None,
) -> RightsRequest:
    now = deps.clock()
    row = RightsRequest(
        public_id=_public_id(),
        type=kind,
        source=source,
        status="received",
        subject_id=subject.id if subject else None,
        subject_key=subject.subject_key if subject else None,
        requester_hash=requester_digest(salt(deps, session), external_id=external_id, email=email),
        external_id=external_id,
        email=email if email else (subject.email if subject else None),
        property=property_code,
        attempts=0,
        progress={},
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def create_admin_request(
    deps: Deps, req: rules.AdminRequest, *, actor: str, source: str = "api"
) -> dict[str, str]:
    """PRODUCT 1.5: ``{"id", "status"}`` of a new request for the person named."""
    with deps.session() as session:
        found = subjects_named(session, external_id=req.external_id, email=req.email)
        subject = found[0] if len(found) == 1 else None
        row = _insert(
            deps,
            session,
            kind=req.type,
            source=source,
            external_id=req.external_id,
            email=req.email,
            subject=subject,
        )
        record_change(
            session,
            actor=actor,
            action="create",
            object_type="rights_request",
            object_code=row.public_id,
            details={"type": req.type},
        )
        result, request_id = {"id": row.public_id, "status": row.status}, row.id
    log.info("rights request received", extra={"request": result["id"], "type": req.type})
    enqueue(deps, request_id)
    return result


def visitor_identity(deps: Deps, property_code: str, token: str | None) -> VisitorIdentity:
    """The visitor the token proves, exactly as the preference endpoints check it."""
    with deps.session() as session:
        prop = load_property(session, property_code)
        return authenticate(deps, session, prop, token or "", int(deps.clock().timestamp()))


def create_visitor_request(
    deps: Deps, identity: VisitorIdentity, req: rules.VisitorRequest
) -> dict[str, str]:
    """A visitor's own request; an open one of the same type is answered instead of a second.

    A session opened from an email link is refused: a forwarded email must not let its reader
    download or delete someone's data. Preferences, yes; data requests need a real sign-in.
    """
    if not may_request_data(identity):
        raise ForbiddenError(
            "Data requests need you to sign in on the site (or confirm your email with a code); "
            "a link from an email can only change preferences."
        )
    with deps.session() as session:
        person = requester_digest(
            salt(deps, session), external_id=identity.external_id, email=identity.email
        )
        open_one = session.scalar(
            select(RightsRequest).where(
                RightsRequest.requester_hash == person,
                RightsRequest.type == req.type,
                RightsRequest.status.in_(rules.OPEN_STATUSES),
            )
        )
        if open_one is not None:
            return {"id": open_one.public_id, "status": open_one.status}
        subject = find_subject(session, identity, lock=False)
        row = _insert(
            deps,
            session,
            kind=req.type,
            source="widget",
            external_id=identity.external_id,
            email=identity.email,
            subject=subject,
            property_code=req.property,
        )
        result, request_id = {"id": row.public_id, "status": row.status}, row.id
    log.info("rights request received", extra={"request": result["id"], "type": req.type})
    enqueue(deps, request_id)
    return result


def download_url(deps: Deps, token: str) -> str:
    return deps.settings.public_url.rstrip("/") + DOWNLOAD_PATH + token


def _view(deps: Deps, row: RightsRequest) -> dict[str, Any]:
    url = None
    if row.download_token_encrypted:
        url = download_url(deps, deps.secrets.decrypt(row.download_token_encrypted))
    return rules.status_view(
        public_id=row.public_id,
        type=row.type,
        status=row.status,
        source=row.source,
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
        error=row.error,
        download_url=url,
        download_expires_at=row.download_expires_at,
        now=deps.clock(),
    )


def admin_status(deps: Deps, public_id: str) -> dict[str, Any]:
    with deps.session() as session:
        row = session.scalar(select(RightsRequest).where(RightsRequest.public_id == public_id))
        if row is None:
            raise NotFoundError(f"rights request {public_id!r} does not exist")
        return _view(deps, row)


def admin_list(deps: Deps, *, status: str | None, limit: int = 50) -> list[dict[str, Any]]:
    if status is not None and status not in rules.STATUSES:
        raise ValidationError(FieldError("status", f"one of {', '.join(rules.STATUSES)}"))
    query = select(RightsRequest).order_by(RightsRequest.id.desc()).limit(min(limit, MAX_LIST))
    if status is not None:
        query = query.where(RightsRequest.status == status)
    with deps.session() as session:
        return [_view(deps, row) for row in session.scalars(query)]


def visitor_status(deps: Deps, identity: VisitorIdentity, public_id: str) -> dict[str, Any]:
    """Only the requester's own request; anyone else's is "not found", as an unknown id is."""
    with deps.session() as session:
        person = requester_digest(
            salt(deps, session), external_id=identity.external_id, email=identity.email
        )
        row = session.scalar(select(RightsRequest).where(RightsRequest.public_id == public_id))
        if row is None or row.requester_hash != person:
            raise NotFoundError("no such rights request")
        return _view(deps, row)


# -- the job -----------------------------------------------------------------------------------


def claim(deps: Deps, request_id: int) -> Claimed | None:
    """received → in_progress; None when done, or when another worker holds it (fresh)."""
    with deps.session() as session:
        row = session.scalar(
            select(RightsRequest).where(RightsRequest.id == request_id).with_for_update()
        )
        now = deps.clock()
        if row is None or row.status in ("completed", "failed"):
            return None
        if row.status == "in_progress" and not rules.is_stuck(row.status, row.updated_at, now):
            return None
        if row.attempts >= MAX_ATTEMPTS:  # a bug, not Braze: stop instead of looping forever
            row.status, row.updated_at, row.completed_at = "failed", now, now
            row.error = f"gave up after {row.attempts} attempts: {row.error or 'no reason'}"[:2000]
            return None
        row.status, row.updated_at, row.attempts = "in_progress", now, row.attempts + 1
        return Claimed(
            id=row.id,
            public_id=row.public_id,
            type=row.type,
            source=row.source,
            external_id=row.external_id,
            email=row.email,
            subject_id=row.subject_id,
            subject_key=row.subject_key,
            progress=dict(row.progress or {}),
        )


def touch(deps: Deps, request_id: int, **progress: Any) -> None:
    """Mark the request alive (the sweep leaves it alone) and remember progress."""
    with deps.session() as session:
        row = session.get(RightsRequest, request_id)
        if row is not None:
            row.updated_at = deps.clock()
            if progress:
                row.progress = {**(row.progress or {}), **progress}


def process_request(deps: Deps, request_id: int) -> str | None:
    """Run one request; returns its final status (None when nothing was to be done)."""
    from backend.services import data_export, erasure  # they use this module's helpers

    claimed = claim(deps, request_id)
    if claimed is None:
        return None
    try:
        if claimed.type == "access":
            data_export.run_access(deps, claimed)
        else:
            erasure.run_erasure(deps, claimed)
    except RetryableError as exc:
        _back_to_received(deps, request_id, str(exc))
        log.info("rights request to retry", extra={"request": claimed.public_id})
        raise
    except (PermanentError, NotFoundError, ValidationError) as exc:
        _fail(deps, request_id, str(exc))
        log.warning("rights request failed", extra={"request": claimed.public_id})
        return "failed"
    except Exception as exc:  # a bug: retried by RQ and the sweep until claim() gives up
        _back_to_received(deps, request_id, f"unexpected error ({type(exc).__name__})")
        raise
    log.info("rights request completed", extra={"request": claimed.public_id})
    return "completed"


def _back_to_received(deps: Deps, request_id: int, error: str) -> None:
    with deps.session() as session:
        row = session.get(RightsRequest, request_id)
        if row is not None and row.status == "in_progress":
            row.status, row.error, row.updated_at = "received", error[:2000], deps.clock()


def _fail(deps: Deps, request_id: int, error: str) -> None:
    with deps.session() as session:
        row = session.get(RightsRequest, request_id)
        if row is not None:
            now = deps.clock()
            row.status, row.error = "failed", error[:2000]
            row.updated_at = row.completed_at = now


def sweep(deps: Deps) -> dict[str, int]:
    """Enqueue requests stuck open for more than ten minutes; drop expired access documents."""
    now = deps.clock()
    with deps.session() as session:
        stuck = list(
            session.scalars(
                select(RightsRequest.id).where(
                    RightsRequest.status.in_(rules.OPEN_STATUSES),
                    RightsRequest.updated_at < now - rules.STUCK_AFTER,
                )
            )
        )
        expired = list(
            session.scalars(
                select(RightsRequest.id).where(
                    RightsRequest.download_expires_at < now,
                    RightsRequest.download_token_hash.is_not(None),
                )
            )
        )
        if expired:
            session.execute(delete(RightsExport).where(RightsExport.request_id.in_(expired)))
            for row in session.scalars(select(RightsRequest).where(RightsRequest.id.in_(expired))):
                row.download_token_hash = row.download_token_encrypted = None
                row.result_location = None
    for request_id in stuck:
        enqueue(deps, request_id)
    if stuck or expired:
        log.info("rights sweep", extra={"requeued": len(stuck), "expired": len(expired)})
    return {"requeued": len(stuck), "expired": len(expired)}


def open_download(deps: Deps, token: str) -> tuple[dict[str, Any], str]:
    """The document behind a download token: NotFoundError for unknown tokens, ``Gone`` when
    the link expired (its document is deleted by the sweep anyway)."""
    digest = rules.token_hash(token)
    with deps.session() as session:
        row = session.scalar(
            select(RightsRequest).where(RightsRequest.download_token_hash == digest)
        )
        if row is None or row.download_expires_at is None:
            raise NotFoundError("no such download")
        if row.download_expires_at <= deps.clock():
            raise GoneError("this download link has expired; ask for your data again")
        document = session.scalar(
            select(RightsExport.document).where(RightsExport.request_id == row.id)
        )
        if document is None:
            raise GoneError("this download is no longer available")
        return dict(document), f"optline-data-{row.public_id}.json"


class GoneError(NotFoundError):
    """The thing existed but is gone for good (HTTP 410)."""


def expires_after(now: datetime) -> datetime:
    return now + rules.DOWNLOAD_TTL
