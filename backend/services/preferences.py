"""The visitor's preference center: bootstrap (texts, topics, state) and save; admin reads/edits.

Each call is one database transaction; propagation jobs are enqueued only after it commits, and a
failed enqueue (Redis down) never fails a save: the outbox sweeper picks the rows up later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from backend.db.models import Property, Subject
from backend.domain.errors import FieldError, NotFoundError, ValidationError
from backend.domain.identity import TokenRejectedError, VisitorIdentity
from backend.domain.preferences import (
    BootstrapRequest,
    Change,
    SaveRequest,
    TopicSpec,
    mask_email,
    plan_changes,
    topics_view,
)
from backend.domain.texts import choose_language, texts_for
from backend.services.catalogue import (
    as_current,
    current_choices,
    find_or_create_subject,
    find_subject,
    load_connections,
    load_topics,
    subjects_named,
)
from backend.services.consent import ChoiceContext, apply_changes
from backend.services.deps import Deps
from backend.services.propagation import enqueue_propagation
from backend.services.property_cache import PropertySnapshot, property_snapshot
from backend.services.save_writer import SaveJob, writer
from backend.services.widget_identity import authenticate, ledger_source, may_request_data

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestInfo:
    """What the web layer knows about the HTTP request, for the ledger."""

    origin: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Bootstrap:
    """Public texts always; the visitor's state only when the token proved who they are."""

    public: dict[str, Any]
    state: dict[str, Any] | None
    rejected: str | None = None


def public_config(prop: Property | PropertySnapshot, language: str | None) -> dict[str, Any]:
    lang = choose_language(language, prop.languages or [])
    return {
        "property": prop.code,
        "language": lang,
        "languages": list(prop.languages or ["en"]),
        "texts": texts_for(lang),
        "features": {"email_verification": bool(prop.email_verification)},
    }


def _now_seconds(deps: Deps) -> int:
    return int(deps.clock().timestamp())


def bootstrap(deps: Deps, token: str | None, req: BootstrapRequest) -> Bootstrap:
    """Read-only: an unknown visitor sees every channel unsubscribed, and nothing is written."""
    with deps.reading() as session:
        prop = _property(deps, session, req.property)
        public = public_config(prop, req.language)
        try:
            identity = authenticate(deps, session, prop, token or "", _now_seconds(deps))
        except TokenRejectedError as exc:
            log.info("widget token rejected", extra={"property": prop.code, "reason": str(exc)})
            return Bootstrap(public=public, state=None, rejected=str(exc))
        topics = prop.topics
        subject = find_subject(session, identity, lock=False)
        current = as_current(current_choices(session, subject.id if subject else None, topics))
        state = {
            "topics": topics_view(topics, current, public["language"], prop.languages or []),
            "unsubscribed_all": bool(subject and subject.unsubscribed_all_at),
            "visitor": {
                "email_masked": mask_email(_email_of(identity, subject)),
                # A session from an email link may change choices, never request data: the widget
                # leaves the access and erasure buttons out rather than offer a certain 403.
                "can_request_data": may_request_data(identity),
            },
        }
    return Bootstrap(public=public, state=state)


def _email_of(identity: VisitorIdentity, subject: Subject | None) -> str | None:
    return identity.email or (subject.email if subject else None)


def save(deps: Deps, token: str | None, req: SaveRequest, info: RequestInfo) -> dict[str, Any]:
    """Apply a visitor's choices; raise TokenRejectedError (nothing read) or ValidationError.

    Identity and the request are checked first, outside any write; the write itself joins the
    group of saves being written together (``save_writer``): one transaction, ledger head locked
    last and briefly."""
    with deps.reading() as session:  # usually no query at all: the property is cached
        prop = _property(deps, session, req.property)
        identity = authenticate(deps, session, prop, token or "", _now_seconds(deps))
    language = choose_language(req.language, prop.languages or [])
    topics = prop.topics
    # Unknown topics or channels are refused here, before anything is written.
    plan_changes(topics, {}, req.changes, unsubscribe_all=req.unsubscribe_all)
    ctx = ChoiceContext(
        source=ledger_source(identity),
        proof=identity.proof,
        property=prop.code,
        origin=info.origin,
        language=language,
        user_agent=info.user_agent,
    )
    job = SaveJob(identity=identity, prop=prop, req=req, ctx=ctx)
    writer(deps).submit(job)
    if job.error is not None:
        raise job.error
    log.info(
        "preferences saved", extra={"subject_id": job.subject_id, "changed": job.applied.changed}
    )
    return {
        "topics": topics_view(topics, as_current(job.existing), language, prop.languages or []),
        "unsubscribed_all": job.unsubscribed_all,
        "saved": job.applied.changed,
    }


def _property(deps: Deps, session: Session, code: str) -> PropertySnapshot:
    prop = property_snapshot(deps, session, code)
    if prop is None:
        raise NotFoundError(f"property {code!r} does not exist")
    return prop


# -- admin ----------------------------------------------------------------------------------------


def _preference_rows(
    topics: Sequence[TopicSpec], rows: dict[tuple[str, str], Any]
) -> list[dict[str, Any]]:
    order = {(t.code, c.channel): i for i, t in enumerate(topics) for c in t.channels}
    return [
        {
            "subscription": code,
            "channel": channel,
            "state": pref.state,
            "sync_status": pref.sync_status,
            "updated_at": pref.updated_at.isoformat(),
        }
        for (code, channel), pref in sorted(
            rows.items(), key=lambda kv: order.get(kv[0], len(order))
        )
    ]


def admin_preferences(
    deps: Deps, *, external_id: str | None = None, email: str | None = None
) -> list[dict[str, Any]]:
    """PRODUCT 1.5: every current choice of the person named by external_id or email."""
    _require_one(external_id, email)
    with deps.session() as session:
        topics = load_topics(session, None)
        out: list[dict[str, Any]] = []
        for subject in subjects_named(session, external_id=external_id, email=email):
            out += _preference_rows(topics, current_choices(session, subject.id, topics))
    return out


def admin_set_preferences(
    deps: Deps,
    *,
    external_id: str | None,
    email: str | None,
    changes: Sequence[Change],
    actor: str,
    source: str,
) -> dict[str, Any]:
    """Choices recorded by an admin or an API client on someone's behalf (ledger source/proof)."""
    _require_one(external_id, email)
    identity = VisitorIdentity(
        property_code="",
        external_id=external_id or None,
        email=email.strip().lower() if email and not external_id else None,
        proof=actor,
        expires_at=0,
    )
    with deps.session() as session:
        topics = load_topics(session, None)
        found = find_subject(session, identity, lock=True)
        existing = current_choices(session, found.id if found else None, topics)
        planned = plan_changes(topics, as_current(existing), changes)
        if found is None and not planned:
            return {"preferences": [], "saved": 0}
        now = deps.clock()
        subject = find_or_create_subject(session, identity, now)
        session.flush()
        if found is None:
            existing = current_choices(session, subject.id, topics)
            planned = plan_changes(topics, as_current(existing), changes)
        applied = apply_changes(
            session,
            subject=subject,
            topics=topics,
            connections=load_connections(session, topics),
            existing=existing,
            changes=planned,
            unsubscribe_all=False,
            ctx=ChoiceContext(source=source, proof=actor),
            now=now,
        )
        rows = _preference_rows(topics, existing)
    enqueue_propagation(deps, applied.connection_ids)
    return {"preferences": rows, "saved": applied.changed}


def _require_one(external_id: str | None, email: str | None) -> None:
    if bool(external_id) == bool(email):
        raise ValidationError(FieldError("external_id", "give exactly one of external_id or email"))
