"""Sending mail over SMTP: ``OPTLINE_SMTP_URL=smtp://user:pass@host:port`` (``smtps://``: TLS)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from backend.domain.errors import PermanentError, RetryableError

SMTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    sender: str


def parse_smtp_url(url: str, default_sender: str = "optline@localhost") -> SmtpTarget:
    """``smtp://user:pass@host:port?from=noreply@example.com``; STARTTLS when offered."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("OPTLINE_SMTP_URL must look like smtp://user:pass@host:port")
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    implicit = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=implicit,
        sender=unquote(query.get("from", default_sender)),
    )


def send_smtp(target: SmtpTarget, to: str, subject: str, body: str) -> None:
    """Send one plain-text message; failures become RetryableError/PermanentError."""
    message = EmailMessage()
    message["From"] = target.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    context = ssl.create_default_context()
    try:
        if target.implicit_tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
            )
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS)
        with client:
            client.ehlo()
            if not target.implicit_tls and client.has_extn("starttls"):
                client.starttls(context=context)
            if target.username:
                client.login(target.username, target.password or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentError("mail server refused the recipient") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise PermanentError("mail server refused the credentials") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise RetryableError(f"mail server unreachable ({type(exc).__name__})") from exc
