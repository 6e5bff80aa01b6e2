"""Run notifications reach a local SMTP sink and a local webhook, as ``notify.on`` says."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from backend.db.models import MailMessage
from backend.domain.errors import PermanentError
from backend.services import sync_runs
from backend.services.configuration import apply_configuration
from backend.services.deps import Deps
from tests.fakes.smtp_sink import SmtpSink
from tests.integration.profile_sync.conftest import FakeEngine, config


class Hooks:
    """A local HTTP server that records JSON POSTs and answers with ``status``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 204
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                hooks.received.append(
                    {
                        "path": self.path,
                        "type": self.headers.get("Content-Type"),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                self.send_response(hooks.status)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/optline"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink(deps: Deps) -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        deps.settings = replace(deps.settings, smtp_url=server.url)
        yield server


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    server = Hooks()
    yield server
    server.close()


def notify(deps: Deps, **notify: Any) -> None:
    entry = config()["sync_connections"][0]
    entry["notify"] = {"emails": ["ops@acme.com", "data@acme.com"], "webhook": None, **notify}
    apply_configuration(
        deps, config(sync_connections=[entry]), dry_run=False, prune=False, actor="test"
    )


def run(deps: Deps, goal: str = "braze-loyalty", dry_run: bool = False) -> dict[str, Any]:
    (queued,) = sync_runs.request_runs(deps, "braze-profiles", goal=goal, dry_run=dry_run)
    result = sync_runs.execute_run(deps, queued["id"])
    assert result is not None
    return result


def test_failure_mails_every_address(deps: Deps, sink: SmtpSink, engines: FakeEngine) -> None:
    notify(deps, on=["failure"])
    engines.fail_with = PermanentError("S3 bucket acme-exports does not exist")
    result = run(deps)
    mails = sink.wait_for(2)
    assert sorted(r for m in mails for r in m.recipients) == ["data@acme.com", "ops@acme.com"]
    mail = mails[0]
    assert mail.subject == "[Optline] sync braze-profiles / braze-loyalty: failed"
    body = mail.body
    assert "Connection: braze-profiles" in body
    assert "Goal: braze-loyalty (import)" in body
    assert "Status: failed" in body
    assert "Error: S3 bucket acme-exports does not exist" in body
    assert "Counts: 0 checked, 0 created, 0 updated, 0 unchanged, 0 skipped, 0 failed" in body
    assert "Duration: " in body
    assert f"http://127.0.0.1:8000/admin/runs/{result['id']}" in body
    with deps.session() as session:
        statuses = session.scalars(select(MailMessage.status)).all()
    assert statuses == ["sent", "sent"]


def test_success_mails_only_when_asked(deps: Deps, sink: SmtpSink, engines: FakeEngine) -> None:
    notify(deps, on=["failure"])
    run(deps)
    assert sink.wait_for(1, timeout=0.5) == []
    notify(deps, on=["success"])
    run(deps)
    mails = sink.wait_for(2)
    assert len(mails) == 2
    assert mails[0].subject.endswith(": succeeded")
    assert "Counts: 3 checked, 0 created, 2 updated, 1 unchanged" in mails[0].body
    engines.fail_with = PermanentError("boom")
    run(deps)
    assert len(sink.wait_for(3, timeout=0.5)) == 2  # failure is not in "on"


def test_dry_runs_notify_no_one(deps: Deps, sink: SmtpSink, engines: FakeEngine) -> None:
    notify(deps, on=["success", "failure"])
    run(deps, dry_run=True)
    assert sink.wait_for(1, timeout=0.5) == []


def test_webhook_receives_the_run(deps: Deps, hooks: Hooks, engines: FakeEngine) -> None:
    notify(deps, emails=[], on=["success", "failure"], webhook=hooks.url)
    result = run(deps, goal="vip-to-braze")
    (hook,) = hooks.received
    assert hook["path"] == "/hooks/optline"
    assert hook["type"] == "application/json"
    assert hook["body"]["event"] == "sync_run.success"
    assert hook["body"]["run"]["id"] == result["id"]
    assert hook["body"]["run"]["goal"] == "vip-to-braze"
    assert hook["body"]["run"]["counts"]["updated"] == 2
    assert hook["body"]["run"]["url"].endswith(f"/admin/runs/{result['id']}")


def test_a_failing_webhook_or_mail_server_never_fails_the_run(
    deps: Deps, hooks: Hooks, engines: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    hooks.status = 500
    deps.settings = replace(deps.settings, smtp_url="smtp://127.0.0.1:9")  # nothing listens
    notify(deps, on=["success"], webhook=hooks.url)
    result = run(deps)
    assert result["status"] == "succeeded"
    assert len(hooks.received) == 1
    assert "run notification webhook failed" in caplog.text
    assert hooks.url not in caplog.text and "ops@acme.com" not in caplog.text
    with deps.session() as session:
        assert set(session.scalars(select(MailMessage.status))) == {"failed"}


def test_without_smtp_mail_lands_in_the_dev_outbox(deps: Deps, engines: FakeEngine) -> None:
    notify(deps, on=["success"])
    run(deps)
    with deps.session() as session:
        mails = session.scalars(select(MailMessage)).all()
    assert [(m.to_address, m.status, m.purpose) for m in mails] == [
        ("ops@acme.com", "shown", "sync_run"),
        ("data@acme.com", "shown", "sync_run"),
    ]
