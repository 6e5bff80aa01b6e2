"""A tiny SMTP server on 127.0.0.1 that keeps every message it receives (tests only).

Speaks just enough RFC 5321 for smtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no
STARTTLS and no AUTH, so a client that offers neither sends in the clear to this sink.
"""

from __future__ import annotations

import socketserver
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed: Any = message_from_bytes(self.data, policy=policy.default)
        return parsed  # type: ignore[no-any-return]

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        return part.get_content() if part is not None else ""


@dataclass
class _Inbox:
    messages: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(socketserver.StreamRequestHandler):
    inbox: _Inbox

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 sink ESMTP ready")
        sender, recipients = "", []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            command = raw.decode("utf-8", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == "HELO":
                self.reply("250 sink")
            elif verb == "MAIL":
                sender, recipients = command.partition(":")[2].strip().strip("<>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.partition(":")[2].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while True:
                    line = self.rfile.readline(1 << 20)
                    if not line or line == b".\r\n":
                        break
                    lines.append(line[1:] if line.startswith(b"..") else line)
                with self.inbox.lock:
                    self.inbox.messages.append(ReceivedMail(sender, recipients, b"".join(lines)))
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class SmtpSink:
    """``with SmtpSink() as sink: ... sink.url ... sink.wait_for(1)``."""

    def __init__(self) -> None:
        self.inbox = _Inbox()
        handler = type("Handler", (_Handler,), {"inbox": self.inbox})
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[ReceivedMail]:
        with self.inbox.lock:
            return list(self.inbox.messages)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages

    def __enter__(self) -> SmtpSink:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
