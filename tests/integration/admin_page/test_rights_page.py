"""Rights requests on the settings page (list, create, erasure confirmation, status, the
download link of a completed access request) and a connection's email blocklist and status."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from backend.db.models import RightsRequest
from backend.domain.preferences import Change
from backend.services import configuration, preferences, rights
from backend.services.deps import Deps
from tests.fakes.jobs import RecordingJobQueue
from tests.integration.admin_page.page_forms import create_connection, submit, subscription_form


def requests_count(deps: Deps) -> int:
    with deps.session() as session:
        return int(session.scalar(select(func.count()).select_from(RightsRequest)) or 0)


def new_request(client: FlaskClient, **fields: Any) -> Any:
    data = {"type": "access", "by": "external_id", "value": "visitor-1", **fields}
    return submit(client, "/admin/rights/new", {k: v for k, v in data.items() if v is not None})


@pytest.fixture
def known(admin: FlaskClient, deps: Deps) -> FlaskClient:
    """A sandbox connection and visitor-1 with one choice."""
    create_connection(admin, sandbox="y")
    assert submit(admin, "/admin/subscriptions/new", subscription_form()).status_code == 302
    preferences.admin_set_preferences(
        deps,
        external_id="visitor-1",
        email=None,
        actor="test",
        source="api",
        changes=[Change("newsletter", "email", "subscribed")],
    )
    return admin


def test_create_an_access_request_and_follow_it_to_the_download(
    known: FlaskClient, deps: Deps, jobs: RecordingJobQueue
) -> None:
    response = new_request(known)
    assert response.status_code == 302
    (row_id, public_id) = rights_row(deps)
    assert response.headers["Location"] == f"/admin/rights/{public_id}"
    assert [c.args for c in jobs.calls if c.func == rights.JOB_PATH] == [(row_id,)]
    page = known.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Rights request {public_id} received." in page and "received" in page
    listing = known.get("/admin/rights").get_data(as_text=True)
    assert f'href="/admin/rights/{public_id}"' in listing and "visitor-1" not in listing
    assert rights.process_request(deps, row_id) == "completed"
    done = known.get(f"/admin/rights/{public_id}")
    assert done.headers["Cache-Control"] == "no-store"
    html = done.get_data(as_text=True)
    assert 'badge--ok">completed' in html
    assert 'href="http://127.0.0.1:8000/rights/download/' in html
    completed = known.get("/admin/rights?status=completed").get_data(as_text=True)
    assert f'href="/admin/rights/{public_id}"' in completed
    assert "No rights requests with status failed." in known.get(
        "/admin/rights?status=failed"
    ).get_data(as_text=True)


def rights_row(deps: Deps) -> tuple[int, str]:
    with deps.session() as session:
        row = session.execute(select(RightsRequest.id, RightsRequest.public_id)).one()
        return int(row.id), str(row.public_id)


def test_an_erasure_needs_confirmation(known: FlaskClient, deps: Deps) -> None:
    refused = new_request(known, type="erasure")
    assert refused.status_code == 422
    assert "Confirm the erasure: it cannot be undone." in refused.get_data(as_text=True)
    assert requests_count(deps) == 0
    response = new_request(known, type="erasure", confirm="y")
    assert response.status_code == 302
    (_, public_id) = rights_row(deps)
    assert rights.admin_status(deps, public_id)["type"] == "erasure"


def test_a_bad_email_is_refused(known: FlaskClient, deps: Deps) -> None:
    response = new_request(known, by="email", value="not-an-email")
    assert response.status_code == 422
    assert "email" in response.get_data(as_text=True).lower()
    assert requests_count(deps) == 0


def test_an_unknown_request_is_404(admin: FlaskClient) -> None:
    assert admin.get("/admin/rights/rr_nope").status_code == 404


EMAIL_PAGE = "/admin/braze-connections/braze-main/email"


def sandbox_paths(deps: Deps) -> list[str]:
    return [r["path"] for r in configuration.list_sandbox_requests(deps, "braze-main")]


def test_blocklist_addresses_with_confirmation(known: FlaskClient, deps: Deps) -> None:
    form = {"blocklist-emails": "a@example.com\nB@Example.com, c@example.com"}
    refused = submit(known, EMAIL_PAGE, form, action=EMAIL_PAGE + "/blocklist")
    assert refused.status_code == 422
    assert "Tick this to confirm." in refused.get_data(as_text=True)
    assert "/email/blocklist" not in sandbox_paths(deps)
    response = submit(
        known, EMAIL_PAGE, {**form, "blocklist-confirm": "y"}, action=EMAIL_PAGE + "/blocklist"
    )
    assert response.status_code == 302
    assert sandbox_paths(deps).count("/email/blocklist") == 1
    body = configuration.list_sandbox_requests(deps, "braze-main")[0]["body"]
    assert body == {"email": ["a@example.com", "b@example.com", "c@example.com"]}
    assert "3 address(es) blocklisted in Braze in 1 call(s)" in known.get(EMAIL_PAGE).get_data(
        as_text=True
    )


def test_set_global_email_status(known: FlaskClient, deps: Deps) -> None:
    form = {"status-emails": "a@example.com", "status-state": "opted_in", "status-confirm": "y"}
    response = submit(known, EMAIL_PAGE, form, action=EMAIL_PAGE + "/status")
    assert response.status_code == 302
    assert "/email/status" in sandbox_paths(deps)
    assert "set to opted_in" in known.get(EMAIL_PAGE).get_data(as_text=True)


def test_bad_addresses_are_named_and_nothing_is_sent(known: FlaskClient, deps: Deps) -> None:
    form = {
        "status-emails": "a@example.com\nnot-an-address",
        "status-state": "unsubscribed",
        "status-confirm": "y",
    }
    response = submit(known, EMAIL_PAGE, form, action=EMAIL_PAGE + "/status")
    assert response.status_code == 422
    assert "emails[1]" in response.get_data(as_text=True)
    assert "/email/status" not in sandbox_paths(deps)
