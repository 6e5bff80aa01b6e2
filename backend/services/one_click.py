"""RFC 8058 one-click unsubscribe: a verified link's visitor leaves one topic (every channel of
it) or everything, through the normal consent path (preference + ledger + outbox in one
transaction, propagation enqueued after commit). Idempotent: a second click writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from backend.domain.errors import FieldError, ValidationError
from backend.domain.identity import VisitorIdentity
from backend.domain.preferences import Change, TopicSpec
from backend.domain.preferences import plan_changes as plan
from backend.services.catalogue import (
    as_current,
    current_choices,
    find_or_create_subject,
    find_subject,
    load_connections,
    load_property,
    load_topics,
)
from backend.services.consent import ChoiceContext, apply_changes
from backend.services.deps import Deps
from backend.services.hosted_links import VerifiedLink
from backend.services.propagation import enqueue_propagation
from backend.services.suppressions import is_suppressed
from backend.services.widget_identity import LINK_PROOF

log = logging.getLogger(__name__)

SOURCE = "one_click"


@dataclass(frozen=True)
class Unsubscribed:
    changed: int
    topic: str | None  # None: everything
    topic_name: dict[str, str] | None = None


def _topic_changes(
    topics: list[TopicSpec], code: str | None
) -> tuple[list[Change], TopicSpec | None]:
    if code is None:
        return [], None
    spec = next((t for t in topics if t.code == code), None)
    if spec is None:
        raise ValidationError(FieldError("topic", f"this site has no topic {code!r}"))
    return [Change(code, c.channel, "unsubscribed") for c in spec.channels], spec


def check_topic(deps: Deps, link: VerifiedLink) -> dict[str, str] | None:
    """The link's topic names (ValidationError when the site has no such topic); None: all."""
    with deps.session() as session:
        topics = load_topics(session, load_property(session, link.property_code))
    _, spec = _topic_changes(topics, link.topic)
    return dict(spec.name) if spec else None


def unsubscribe(deps: Deps, link: VerifiedLink, *, user_agent: str | None) -> Unsubscribed:
    """Unsubscribe the link's visitor; nothing is written for someone an erasure removed."""
    if is_suppressed(deps, external_id=link.external_id):
        log.info("one-click unsubscribe for an erased person: nothing to do")
        return Unsubscribed(0, link.topic)
    identity = VisitorIdentity(link.property_code, link.external_id, None, LINK_PROOF, 0)
    everything = link.topic is None
    with deps.session() as session:
        prop = load_property(session, link.property_code)
        topics = load_topics(session, prop)
        wanted, spec = _topic_changes(topics, link.topic)
        found = find_subject(session, identity, lock=True)
        existing = current_choices(session, found.id if found else None, topics)
        changes = plan(topics, as_current(existing), wanted, unsubscribe_all=everything)
        if found is None and not changes:
            return Unsubscribed(0, link.topic)
        now = deps.clock()
        subject = find_or_create_subject(session, identity, now)
        session.flush()
        if found is None:
            # Another request may have created this person meanwhile: plan again under the lock.
            existing = current_choices(session, subject.id, topics)
            changes = plan(topics, as_current(existing), wanted, unsubscribe_all=everything)
        applied = apply_changes(
            session,
            subject=subject,
            topics=topics,
            connections=load_connections(session, topics),
            existing=existing,
            changes=changes,
            unsubscribe_all=everything,
            ctx=ChoiceContext(
                source=SOURCE, proof=LINK_PROOF, property=prop.code, user_agent=user_agent
            ),
            now=now,
        )
        subject_id = subject.id
    log.info("one-click unsubscribe", extra={"subject_id": subject_id, "changed": applied.changed})
    enqueue_propagation(deps, applied.connection_ids)
    return Unsubscribed(applied.changed, link.topic, dict(spec.name) if spec else None)
