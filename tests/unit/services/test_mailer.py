"""Mail: recorded for the dev outbox without SMTP; sent over a real SMTP conversation with it."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from backend.db.models import MailMessage
from backend.integrations.mail import parse_smtp_url
from backend.services.deps import Deps
from backend.services.mailer import send_mail


class TinySmtp:
    """Just enough SMTP (RFC 5321) for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self.data = ""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        stream = conn.makefile("rwb")

        def reply(text: str) -> None:
            stream.write(text.encode() + b"\r\n")
            stream.flush()

        reply("220 tiny ESMTP")
        while True:
            line = stream.readline().decode().rstrip("\r\n")
            if not line:
                break
            self.lines.append(line)
            verb = line.split(" ")[0].upper()
            if verb == "EHLO":
                reply("250-tiny\r\n250 AUTH PLAIN")
            elif verb == "AUTH":
                reply("235 ok")
            elif verb == "DATA":
                reply("354 go on")
                body = []
                while (chunk := stream.readline().decode()) not in (".\r\n", ""):
                    body.append(chunk)
                self.data = "".join(body)
                reply("250 queued")
            elif verb == "QUIT":
                reply("221 bye")
                break
            else:
                reply("250 ok")
        conn.close()
        self.sock.close()


@pytest.fixture
def smtp() -> Iterator[TinySmtp]:
    server = TinySmtp()
    yield server
    server.thread.join(timeout=5)


def messages(deps: Deps) -> list[MailMessage]:
    with deps.session() as session:
        return list(session.scalars(select(MailMessage)))


def test_without_smtp_mail_is_only_shown(deps: Deps) -> None:
    send_mail(deps, to="a@example.com", subject="Hi", body="Code 123456", purpose="email_code")
    (row,) = messages(deps)
    assert (row.status, row.body, row.purpose) == ("shown", "Code 123456", "email_code")


def test_with_smtp_mail_is_sent_and_marked_sent(deps: Deps, smtp: TinySmtp) -> None:
    url = f"smtp://user:p%40ss@127.0.0.1:{smtp.port}?from=noreply@example.com"
    deps.settings = dataclasses.replace(deps.settings, smtp_url=url)
    send_mail(
        deps, to="a@example.com", subject="Your code", body="Code 654321", purpose="email_code"
    )
    smtp.thread.join(timeout=5)
    lines = [line.upper() for line in smtp.lines]
    assert "MAIL FROM:<NOREPLY@EXAMPLE.COM>" in lines and "RCPT TO:<A@EXAMPLE.COM>" in lines
    assert any(line.startswith("AUTH PLAIN") for line in lines)
    assert "Code 654321" in smtp.data and "Subject: Your code" in smtp.data
    assert messages(deps)[0].status == "sent"


def test_an_unreachable_server_marks_the_message_failed(deps: Deps) -> None:
    deps.settings = dataclasses.replace(deps.settings, smtp_url="smtp://127.0.0.1:1")
    send_mail(deps, to="a@example.com", subject="Hi", body="x", purpose="email_code")
    (row,) = messages(deps)
    assert row.status == "failed" and "unreachable" in str((row.meta or {}).get("error"))


def test_smtp_urls_are_parsed() -> None:
    target = parse_smtp_url("smtps://me:s%3Acret@mail.example.com")
    assert (target.host, target.port, target.username, target.password) == (
        "mail.example.com", 465, "me", "s:cret",
    )  # fmt: skip
    assert target.implicit_tls and parse_smtp_url("smtp://h").port == 25
    with pytest.raises(ValueError):
        parse_smtp_url("http://mail.example.com")
