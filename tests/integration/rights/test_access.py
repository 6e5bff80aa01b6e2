"""Access requests end to end: admin API → job → Braze /users/export/ids → download link."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db import models
from backend.services import rights
from backend.services.deps import Deps
from backend.wiring import utc_clock
from tests.fakes.braze_fake import BrazeFake, Fault
from tests.integration.rights.conftest import (
    ADMIN,
    PUBLIC,
    count,
    propagate,
    run_rights_jobs,
    save,
)

pytestmark = pytest.mark.integration
EXPORT = "/users/export/ids"


def ask(client: FlaskClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(f"{ADMIN}/rights-requests", json=body, headers=admin)
    assert response.status_code == 202, response.get_json()
    return dict(response.get_json())


def status(client: FlaskClient, admin: dict[str, str], public_id: str) -> dict[str, Any]:
    response = client.get(f"{ADMIN}/rights-requests/{public_id}", headers=admin)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def path_of(url: str) -> str:
    return url[url.index("/rights/download/") :]


def test_access_end_to_end_with_a_download_link_that_expires(
    client: FlaskClient, job_deps: Deps, braze: BrazeFake, admin: dict[str, str]
) -> None:
    save(client, [("newsletter", "email", "subscribed")], sub="ada", email="ada@example.com")
    propagate(job_deps)
    braze.add_user("other-person", attributes={"email": "other@example.com"})
    created = ask(client, admin, type="access", external_id="ada")
    assert set(created) == {"id", "status"} and created["status"] == "received"
    assert created["id"].startswith("rr_") and len(created["id"]) > 20
    call = job_deps.jobs.calls[-1]
    assert call.func == "backend.jobs.rights.process_rights_request_job"
    assert call.queue == "default" and call.job_id == f"rights-request-{call.args[0]}"
    assert run_rights_jobs(job_deps) == [call.job_id]

    done = status(client, admin, created["id"])
    assert done["status"] == "completed" and done["type"] == "access"
    url = done["download_url"]
    assert url.startswith("http://127.0.0.1:8000/rights/download/")
    exports = [r for r in braze.requests_to(EXPORT) if r.status < 300]
    assert len(exports) == 1
    assert exports[0].body["external_ids"] == ["ada"]
    assert "custom_attributes" in exports[0].body["fields_to_export"]

    response = client.get(path_of(url))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    document = json.loads(response.data)
    assert document["format"] == "optline.access-export/1"
    assert document["identifiers"]["external_id"] == "ada"
    assert document["identifiers"]["emails"] == ["ada@example.com"]
    assert [(p["subscription"], p["channel"], p["state"]) for p in document["preferences"]] == [
        ("newsletter", "email", "subscribed")
    ]
    assert document["consent_ledger"][0]["origin"] == "https://www.acme.com"
    assert document["braze"]["braze-main"]["users"][0]["external_id"] == "ada"
    assert "other@example.com" not in response.get_data(as_text=True)
    assert document["rights_requests"][0]["id"] == created["id"]

    # The link was mailed to the person; the mail names no other request.
    with job_deps.session() as session:
        mail = session.scalars(
            select(models.MailMessage).where(models.MailMessage.purpose == "rights_access")
        ).one()
        stored = session.scalars(select(models.RightsRequest)).one()
    assert mail.to_address == "ada@example.com" and url in mail.body
    # Only a hash and ciphertext are stored, and the request no longer names the person.
    token = url.rsplit("/", 1)[1]
    assert stored.download_token_hash != token
    assert token not in (stored.download_token_encrypted or "")
    assert stored.external_id is None and stored.email is None

    # Unknown or altered tokens are 404; after seven days the link is gone (410).
    assert client.get("/rights/download/" + "x" * 43).status_code == 404
    assert client.get(path_of(url)[:-2] + "AA").status_code == 404
    later = utc_clock() + timedelta(days=7, minutes=1)
    job_deps.clock = lambda: later
    gone = client.get(path_of(url))
    assert gone.status_code == 410 and gone.headers["Cache-Control"] == "no-store"
    expired = status(client, admin, created["id"])
    assert "download_url" not in expired and expired["download_expired"] is True
    assert rights.sweep(job_deps) == {"requeued": 0, "expired": 1}
    assert count(job_deps, models.RightsExport) == 0
    assert client.get(path_of(url)).status_code == 404


def test_an_unknown_person_by_email_gets_an_empty_but_complete_document(
    client: FlaskClient, job_deps: Deps, braze: BrazeFake, admin: dict[str, str]
) -> None:
    created = ask(client, admin, type="access", email="Nobody@Example.com")
    run_rights_jobs(job_deps)
    done = status(client, admin, created["id"])
    assert done["status"] == "completed"
    body = [r.body for r in braze.requests_to(EXPORT)]
    assert body[0]["email_address"] == "nobody@example.com"
    document = json.loads(client.get(path_of(done["download_url"])).data)
    assert document["preferences"] == [] and document["braze"]["braze-main"]["users"] == []


def test_rate_limited_exports_are_retried_and_complete(
    client: FlaskClient, job_deps: Deps, braze: BrazeFake, admin: dict[str, str]
) -> None:
    from backend.integrations.braze import BrazeClient

    braze.set_rate_limit("users.export.ids", 1, 1.0)
    # Someone else spends the workspace's budget first: our first call is answered 429.
    with BrazeClient(rest_endpoint=braze.url, api_key=braze.api_key) as other:
        other.users_export_ids(external_ids=["someone"])
    first = ask(client, admin, type="access", external_id="a-1")
    second = ask(client, admin, type="access", external_id="a-2")
    run_rights_jobs(job_deps)
    assert status(client, admin, first["id"])["status"] == "completed"
    assert status(client, admin, second["id"])["status"] == "completed"
    codes = [r.status for r in braze.requests_to(EXPORT)][1:]
    # The 429 was waited out; afterwards the bucket follows Braze's headers and avoids more.
    assert codes[0] == 429 and codes.count(201) == 2 and codes.count(429) == 1


def test_braze_down_puts_the_request_back_and_the_retry_completes_it(
    client: FlaskClient,
    job_deps: Deps,
    braze: BrazeFake,
    admin: dict[str, str],
    no_sleep: list[float],
) -> None:
    from backend.domain.errors import RetryableError
    from backend.jobs.rights import process_rights_request_job

    braze.script(EXPORT, [Fault(status=503)] * 5)
    created = ask(client, admin, type="access", external_id="ada")
    request_id = job_deps.jobs.calls[-1].args[0]
    with pytest.raises(RetryableError):
        process_rights_request_job(request_id)
    waiting = status(client, admin, created["id"])
    assert waiting["status"] == "received" and no_sleep
    process_rights_request_job(request_id)  # what RQ's retry does
    assert status(client, admin, created["id"])["status"] == "completed"


def test_a_permanent_braze_refusal_fails_the_request_with_the_reason(
    client: FlaskClient, job_deps: Deps, braze: BrazeFake, admin: dict[str, str]
) -> None:
    braze.script(EXPORT, [Fault(status=403, body={"message": "Access Denied"})])
    created = ask(client, admin, type="access", external_id="ada")
    run_rights_jobs(job_deps)
    failed = status(client, admin, created["id"])
    assert failed["status"] == "failed"
    assert "users.export.ids" in failed["error"] and "download_url" not in failed


def test_a_request_that_keeps_failing_is_given_up(
    client: FlaskClient, job_deps: Deps, admin: dict[str, str]
) -> None:
    created = ask(client, admin, type="access", external_id="ada")
    with job_deps.session() as session:
        row = session.scalars(select(models.RightsRequest)).one()
        row.attempts, row.error = rights.MAX_ATTEMPTS, "unexpected error (KeyError)"
    run_rights_jobs(job_deps)
    failed = status(client, admin, created["id"])
    assert failed["status"] == "failed" and "gave up after 8 attempts" in failed["error"]


def test_stuck_requests_are_picked_up_by_the_sweep(
    client: FlaskClient, job_deps: Deps, admin: dict[str, str]
) -> None:
    job_deps.jobs = None  # Redis down: the request is saved, not enqueued
    created = ask(client, admin, type="access", external_id="ada")
    from tests.fakes.jobs import RecordingJobQueue

    job_deps.jobs = RecordingJobQueue()
    assert rights.sweep(job_deps) == {"requeued": 0, "expired": 0}
    later = utc_clock() + timedelta(minutes=11)
    job_deps.clock = lambda: later
    assert rights.sweep(job_deps)["requeued"] == 1
    run_rights_jobs(job_deps)
    assert status(client, admin, created["id"])["status"] == "completed"


def test_the_list_filters_by_status(
    client: FlaskClient, job_deps: Deps, admin: dict[str, str]
) -> None:
    first = ask(client, admin, type="access", external_id="ada")
    run_rights_jobs(job_deps)
    second = ask(client, admin, type="erasure", external_id="bob")
    listed = client.get(f"{ADMIN}/rights-requests", headers=admin).get_json()["rights_requests"]
    assert [r["id"] for r in listed] == [second["id"], first["id"]]
    done = client.get(f"{ADMIN}/rights-requests?status=completed", headers=admin).get_json()
    assert [r["id"] for r in done["rights_requests"]] == [first["id"]]
    bad = client.get(f"{ADMIN}/rights-requests?status=nope", headers=admin)
    assert bad.status_code == 400 and "status" in bad.get_json()["error"]["message"]
    assert client.get(f"{ADMIN}/rights-requests/rr_unknown", headers=admin).status_code == 404
    assert client.get(f"{ADMIN}/rights-requests").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"type": "copy", "external_id": "ada"},
        {"type": "access"},
        {"type": "access", "external_id": "ada", "email": "ada@example.com"},
        {"type": "access", "email": "not-an-email"},
        {"type": "access", "external_id": ""},
        {"type": "access", "external_id": "x" * 256},
        {"type": "access", "external_id": "ada", "extra": 1},
        ["access"],
    ],
)
def test_bad_admin_input_is_400_and_writes_nothing(
    client: FlaskClient, configured: Deps, admin: dict[str, str], body: Any
) -> None:
    response = client.post(f"{ADMIN}/rights-requests", json=body, headers=admin)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"]
    assert count(configured, models.RightsRequest) == 0
    assert configured.jobs.calls == []
    json_header = admin | {"Content-Type": "application/json"}
    raw = client.post(f"{ADMIN}/rights-requests", data="{nope", headers=json_header)
    assert raw.status_code == 400


def test_visitor_requests_are_their_own_and_limited(
    client: FlaskClient, job_deps: Deps, braze: BrazeFake
) -> None:
    from tests.integration.preferences.conftest import PROPERTY, auth, token

    mine = auth(token("ada", email="ada@example.com"))
    theirs = auth(token("bob"))
    url = f"{PUBLIC}/rights-requests"
    response = client.post(url, json={"property": PROPERTY, "type": "access"}, headers=mine)
    assert response.status_code == 202
    created = response.get_json()
    assert set(created) == {"id", "status"}
    # A second click while it is open answers the same request.
    again = client.post(url, json={"property": PROPERTY, "type": "access"}, headers=mine)
    assert again.get_json()["id"] == created["id"]
    run_rights_jobs(job_deps)
    read = client.get(f"{url}/{created['id']}?property={PROPERTY}", headers=mine)
    assert read.status_code == 200 and read.get_json()["status"] == "completed"
    assert read.get_json()["download_url"].startswith("http://127.0.0.1:8000/rights/download/")
    by_path = client.get(f"{PUBLIC}/{PROPERTY}/rights-requests/{created['id']}", headers=mine)
    assert by_path.status_code == 200
    own_url = f"{url}/{created['id']}?property={PROPERTY}"
    assert client.get(own_url, headers=theirs).status_code == 404
    assert client.get(own_url).status_code == 401
    assert client.get(f"{url}/{created['id']}", headers=mine).status_code == 400
    nobody = client.post(url, json={"property": PROPERTY, "type": "access"})
    assert nobody.status_code == 401
    # Five an hour per visitor (two were spent above).
    codes = [
        client.post(url, json={"property": PROPERTY, "type": "access"}, headers=mine).status_code
        for _ in range(5)
    ]
    assert codes == [202, 202, 202, 429, 429]
    assert count(job_deps, models.RightsRequest) == 2  # the first completed, one new open


def test_visitor_erasure_needs_confirmation_and_bad_input_writes_nothing(
    client: FlaskClient, configured: Deps
) -> None:
    from tests.integration.preferences.conftest import PROPERTY, auth, token

    url = f"{PUBLIC}/rights-requests"
    headers = auth(token("ada"))
    for body in (
        {"property": PROPERTY, "type": "erasure"},
        {"property": PROPERTY, "type": "erasure", "confirm": "yes"},
        {"property": PROPERTY, "type": "delete", "confirm": True},
        {"type": "access"},
    ):
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 400, body
        assert response.get_json()["error"]["message"]
    assert count(configured, models.RightsRequest) == 0
    confirmed = client.post(
        url, json={"property": PROPERTY, "type": "erasure", "confirm": True}, headers=headers
    )
    assert confirmed.status_code == 202 and confirmed.get_json()["status"] == "received"


def test_cors_lets_the_property_origin_read_its_request(
    client: FlaskClient, configured: Deps
) -> None:
    from tests.integration.preferences.conftest import PROPERTY, auth, token

    preflight = client.options(
        f"{PUBLIC}/rights-requests/rr_x",
        headers={"Origin": "https://www.acme.com", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 204
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    headers = auth(token("ada")) | {"Origin": "https://www.acme.com"}
    read = client.get(f"{PUBLIC}/rights-requests/rr_x?property={PROPERTY}", headers=headers)
    assert read.status_code == 404
    assert read.headers["Access-Control-Allow-Origin"] == "https://www.acme.com"
    evil = client.get(
        f"{PUBLIC}/rights-requests/rr_x?property={PROPERTY}",
        headers=auth(token("ada")) | {"Origin": "https://evil.example"},
    )
    assert evil.status_code == 403
