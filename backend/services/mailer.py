"""Mail Optline sends: recorded as ``MailMessage`` rows, and sent by SMTP when one is configured.

Without ``OPTLINE_SMTP_URL`` a message is only recorded with status "shown": the admin's dev outbox
lists it (with its body). Logs name the message id and purpose, never the address or the body.
"""

from __future__ import annotations

import logging
from typing import Any

from backend.db.models import MailMessage
from backend.domain.errors import IntegrationError
from backend.integrations.mail import parse_smtp_url, send_smtp
from backend.services.deps import Deps

log = logging.getLogger(__name__)


def send_mail(
    deps: Deps,
    *,
    to: str,
    subject: str,
    body: str,
    purpose: str,
    meta: dict[str, Any] | None = None,
) -> int:
    """Record the message, then send it when SMTP is configured; returns the message id.

    The row commits first, so a slow or failing mail server never holds a database transaction.
    """
    sender = deps.mailer
    smtp_url = deps.settings.smtp_url
    with deps.session() as session:
        row = MailMessage(
            at=deps.clock(),
            to_address=to,
            subject=subject,
            body=body,
            status="queued" if (sender or smtp_url) else "shown",
            purpose=purpose,
            meta=meta,
        )
        session.add(row)
        session.flush()
        message_id = row.id
    if not (sender or smtp_url):
        log.info("mail shown in the dev outbox", extra={"mail_id": message_id, "purpose": purpose})
        return message_id
    status, error = "sent", None
    try:
        if sender is not None:
            sender(to, subject, body)
        else:
            send_smtp(parse_smtp_url(smtp_url), to, subject, body)
    except (IntegrationError, ValueError) as exc:
        status, error = "failed", str(exc)
        log.warning("mail not sent", extra={"mail_id": message_id, "purpose": purpose})
    with deps.session() as session:
        stored = session.get(MailMessage, message_id)
        if stored is not None:
            stored.status = status
            if error:
                stored.meta = {**(stored.meta or {}), "error": error}
    return message_id
