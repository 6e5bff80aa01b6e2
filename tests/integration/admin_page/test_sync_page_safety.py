"""The crawler over the pages added for profile sync, runs, propagation, visitors, mail and
rights: every one reachable by links answers 200 with the CSP, no inline script or style, and
no secret (the sync webhook included); forms shown again with errors are just as clean."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from html.parser import HTMLParser

from flask.testing import FlaskClient
from sqlalchemy import select, update

from backend.db.models import OutboxEntry, RightsRequest, SyncRun, SyncRunError
from backend.domain.preferences import Change
from backend.services import preferences, rights, sync_runs
from backend.services.deps import Deps
from backend.services.mailer import send_mail
from tests.integration.admin_page.page_forms import csrf_token, submit, subscription_form
from tests.integration.admin_page.sync_page_forms import (
    WEBHOOK,
    seed_sync,
    segment_form,
    sync_connection_form,
)
from tests.integration.admin_page.test_page_safety import check_page, crawl


class IdParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs).get("id")
        if found:
            self.ids[found] += 1


def duplicate_ids(html: str) -> list[str]:
    parser = IdParser()
    parser.feed(html)
    return [name for name, count in parser.ids.items() if count > 1]


def seed(admin: FlaskClient, deps: Deps) -> dict[str, int]:
    seed_sync(admin, notify_webhook=WEBHOOK)
    assert submit(admin, "/admin/subscriptions/new", subscription_form()).status_code == 302
    preferences.admin_set_preferences(
        deps,
        external_id="visitor-1",
        email=None,
        actor="test",
        source="api",
        changes=[Change("newsletter", "email", "subscribed")],
    )
    with deps.session() as session:
        session.execute(update(OutboxEntry).values(status="dead", last_error="HTTP 500"))
    done, queued = sync_runs.request_runs(deps, "braze-profiles", trigger="manual")
    now = deps.clock()
    with deps.session() as session:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == done["id"])
            .values(
                status="failed",
                started_at=now - timedelta(seconds=2),
                finished_at=now,
                counts={"checked": 2, "failed": 1},
                error="Braze said no",
            )
        )
        session.add(SyncRunError(run_id=done["id"], row_ref="r1", field="tier", message="bad"))
    send_mail(deps, to="ops@acme.com", subject="Hello", body="Body <b>", purpose="test")
    assert (
        submit(
            admin,
            "/admin/rights/new",
            {"type": "access", "by": "external_id", "value": "visitor-1"},
        ).status_code
        == 302
    )
    with deps.session() as session:
        request_id = session.scalars(select(RightsRequest.id)).one()
    assert rights.process_request(deps, request_id) == "completed"
    return {"done": done["id"], "queued": queued["id"]}


def test_new_pages_are_safe(admin: FlaskClient, deps: Deps) -> None:
    runs = seed(admin, deps)
    pages = crawl(admin)
    pages.update(crawl(admin, "/admin/visitors?by=external_id&value=visitor-1"))
    expected = {
        "/admin/segments/",
        "/admin/segments/new",
        "/admin/segments/vip/",
        "/admin/sync-connections/",
        "/admin/sync-connections/new",
        "/admin/sync-connections/braze-profiles/",
        "/admin/sync-connections/braze-profiles/runs",
        "/admin/sync-connections/braze-profiles/delete",
        "/admin/runs",
        "/admin/runs?connection=braze-profiles",
        f"/admin/runs/{runs['done']}",
        f"/admin/runs/{runs['done']}/errors.csv",
        f"/admin/runs/{runs['queued']}",
        "/admin/outbox",
        "/admin/visitors",
        "/admin/mail",
        "/admin/rights",
        "/admin/rights/new",
        "/admin/braze-connections/braze-main/email",
    }
    assert expected <= set(pages), expected - set(pages)
    assert any(url.startswith("/admin/mail/") for url in pages)
    assert any(url.startswith("/admin/rights/rr_") for url in pages)
    for url, html in pages.items():
        assert WEBHOOK not in html, url
        assert duplicate_ids(html) == [], url
        if url.startswith(("/admin/outbox", "/admin/rights")):
            assert "visitor-1" not in html, url  # masked, or not shown at all
    # Forms shown again with their problems.
    token = csrf_token(pages["/admin/"])
    for url, form in (
        ("/admin/segments/new", segment_form(code="Bad Code", rule="all: [")),
        ("/admin/sync-connections/new", sync_connection_form(code="Bad Code")),
        ("/admin/sync-connections/braze-profiles/", sync_connection_form(notify_webhook="x")),
        ("/admin/rights/new", {"type": "erasure", "by": "email", "value": "x"}),
        ("/admin/braze-connections/braze-main/email/status", {"status-emails": "nope"}),
    ):
        response = admin.post(url, data={**form, "csrf_token": token})
        assert response.status_code == 422, url
        check_page(response.get_data(as_text=True), response.headers, url)
    lookup = admin.get("/admin/visitors?by=email&value=")
    assert lookup.status_code == 422
    check_page(lookup.get_data(as_text=True), lookup.headers, "lookup")
