"""Braze connections through the settings page: create, edit, delete, test, sandbox requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db.models import AuditEntry, BrazeConnection, BrazeRequestRecord
from backend.domain.errors import NotFoundError
from backend.services import configuration
from backend.services.deps import Deps
from tests.fakes.braze_fake import BrazeFake
from tests.integration.admin_page.page_forms import (
    API_KEY,
    S3_SECRET,
    connection_form,
    count_rows,
    create_connection,
    csrf_token,
    submit,
)

NEW = "/admin/braze-connections/new"
EDIT = "/admin/braze-connections/braze-main/"


def stored_api_key(deps: Deps, code: str = "braze-main") -> str:
    with deps.session() as session:
        row = session.scalars(select(BrazeConnection).where(BrazeConnection.code == code)).one()
        assert API_KEY not in row.api_key_encrypted
        return deps.secrets.decrypt(row.api_key_encrypted)


def test_create_connection_through_the_form(admin: FlaskClient, deps: Deps) -> None:
    response = create_connection(admin, sandbox="y")
    assert response.headers["Location"] == EDIT
    page = admin.get(EDIT).get_data(as_text=True)
    assert "Braze connection braze-main created." in page
    assert 'id="api_key-hint">Leave empty to keep the current value.' in page
    assert 'id="s3_secret_access_key-hint">Leave empty' not in page  # none stored
    stored = configuration.get_object(deps, "braze_connections", "braze-main")
    assert stored["name"] == "Braze production"
    assert stored["sandbox"] is True
    assert stored["s3"] is None
    assert stored_api_key(deps) == API_KEY
    with deps.session() as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.actor, entry.action, entry.object_code) == (
        "admin:admin@example.com",
        "created",
        "braze-main",
    )


def test_connection_appears_in_the_list(admin: FlaskClient) -> None:
    create_connection(admin)
    page = admin.get("/admin/braze-connections/").get_data(as_text=True)
    assert "braze-main" in page and "Braze production" in page


def test_edit_with_empty_secret_keeps_it(admin: FlaskClient, deps: Deps) -> None:
    create_connection(admin)
    form = connection_form(name="Braze renamed", api_key="")
    del form["code"]
    response = submit(admin, EDIT, form)
    assert response.status_code == 302
    assert configuration.get_object(deps, "braze_connections", "braze-main")["name"] == (
        "Braze renamed"
    )
    assert stored_api_key(deps) == API_KEY
    assert "braze-main changed." in admin.get(EDIT).get_data(as_text=True)


def test_edit_with_a_new_secret_replaces_it(admin: FlaskClient, deps: Deps) -> None:
    create_connection(admin)
    form = connection_form(api_key="a-brand-new-key-0001")
    del form["code"]
    assert submit(admin, EDIT, form).status_code == 302
    assert stored_api_key(deps) == "a-brand-new-key-0001"


def test_unchanged_edit_says_so(admin: FlaskClient, deps: Deps) -> None:
    create_connection(admin)
    form = connection_form(api_key="")
    del form["code"]
    submit(admin, EDIT, form)
    assert "is unchanged" in admin.get(EDIT).get_data(as_text=True)
    assert count_rows(deps, AuditEntry) == 1


def test_s3_block_with_secret_kept_on_edit(admin: FlaskClient, deps: Deps) -> None:
    s3 = {
        "s3_bucket": "acme-braze-exports",
        "s3_prefix": "optline/",
        "s3_region": "us-east-1",
        "s3_access_key_id": "AKIAEXAMPLE",
        "s3_secret_access_key": S3_SECRET,
    }
    create_connection(admin, **s3)
    form = connection_form(api_key="", **{**s3, "s3_secret_access_key": "", "s3_prefix": "x/"})
    del form["code"]
    assert submit(admin, EDIT, form).status_code == 302
    stored = configuration.get_object(deps, "braze_connections", "braze-main")
    assert stored["s3"]["prefix"] == "x/"
    assert stored["s3"]["secret_access_key"] == "<redacted>"
    with deps.session() as session:
        row = session.scalars(select(BrazeConnection)).one()
        assert deps.secrets.decrypt(row.s3_secret_access_key_encrypted) == S3_SECRET


def test_validation_error_is_shown_by_path_and_nothing_written(
    admin: FlaskClient, deps: Deps
) -> None:
    response = submit(
        admin,
        NEW,
        connection_form(
            rest_endpoint="ftp://braze.example", s3_bucket="acme-exports", s3_access_key_id="AKIA1"
        ),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Nothing was saved" in page
    assert "rest_endpoint: " in page
    assert "s3.secret_access_key: give both access_key_id and secret_access_key" in page
    # The message also sits beside its field.
    assert 'id="rest_endpoint-error"' in page
    assert 'id="s3_secret_access_key-error"' in page
    assert count_rows(deps, BrazeConnection) == 0
    assert count_rows(deps, AuditEntry) == 0
    assert API_KEY not in page


def test_form_shape_errors_are_listed(admin: FlaskClient, deps: Deps) -> None:
    response = submit(admin, NEW, connection_form(code="", name=""))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Code: This field is required." in page
    assert count_rows(deps, BrazeConnection) == 0


def test_creating_an_existing_code_is_refused(admin: FlaskClient, deps: Deps) -> None:
    create_connection(admin)
    response = submit(admin, NEW, connection_form(name="Another", api_key="other-key-1234"))
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert stored_api_key(deps) == API_KEY
    assert configuration.get_object(deps, "braze_connections", "braze-main")["name"] == (
        "Braze production"
    )


def test_delete_connection(admin: FlaskClient, deps: Deps) -> None:
    create_connection(admin)
    confirm = admin.get("/admin/braze-connections/braze-main/delete")
    assert confirm.status_code == 200
    response = admin.post(
        "/admin/braze-connections/braze-main/delete",
        data={"csrf_token": csrf_token(confirm.get_data(as_text=True))},
    )
    assert response.status_code == 302
    with pytest.raises(NotFoundError):
        configuration.get_object(deps, "braze_connections", "braze-main")
    assert "braze-main deleted." in admin.get("/admin/braze-connections/").get_data(as_text=True)


def test_unknown_connection_is_a_404_page(admin: FlaskClient) -> None:
    response = admin.get("/admin/braze-connections/nope/")
    assert response.status_code == 404
    assert "does not exist" in response.get_data(as_text=True)


@pytest.fixture(scope="module")
def braze_server() -> Iterator[BrazeFake]:
    with BrazeFake() as fake:
        yield fake


@pytest.fixture
def braze_fake(braze_server: BrazeFake) -> BrazeFake:
    braze_server.reset()
    return braze_server


def run_test(admin: FlaskClient, code: str = "braze-main") -> str:
    page = admin.get(f"/admin/braze-connections/{code}/")
    response = admin.post(
        f"/admin/braze-connections/{code}/test",
        data={"csrf_token": csrf_token(page.get_data(as_text=True))},
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_connection_test_reports_each_permission(admin: FlaskClient, braze_fake: BrazeFake) -> None:
    braze_fake.add_key(API_KEY, ["segments.list", "users.track"])
    create_connection(admin, rest_endpoint=braze_fake.url)
    page = run_test(admin)
    assert "segments.list" in page and "users.track" in page
    assert "missing permission" in page
    assert "3 of 5 checks failed." in page
    assert API_KEY not in page


def test_connection_test_with_a_bad_key(admin: FlaskClient, braze_fake: BrazeFake) -> None:
    create_connection(admin, rest_endpoint=braze_fake.url, api_key="unknown-key-0000")
    assert "API key rejected" in run_test(admin)


def test_connection_test_when_braze_is_unreachable(admin: FlaskClient) -> None:
    create_connection(admin, rest_endpoint="http://127.0.0.1:9")
    page = run_test(admin)
    assert "1 of 1 checks failed." in page


def test_connection_test_needs_the_csrf_token(admin: FlaskClient) -> None:
    create_connection(admin, sandbox="y")
    assert admin.post("/admin/braze-connections/braze-main/test").status_code == 400


def test_sandbox_connection_test_says_nothing_is_sent(admin: FlaskClient) -> None:
    create_connection(admin, sandbox="y")
    assert "sandbox connection" in run_test(admin)


def test_sandbox_request_log_newest_first(admin: FlaskClient, deps: Deps) -> None:
    create_connection(admin, sandbox="y")
    with deps.session() as session:
        connection_id = session.scalars(select(BrazeConnection.id)).one()
    with deps.session() as session:
        client = deps.braze_factory(session, connection_id)
    client.users_track(attributes=[{"external_id": "first-user", "tier": "<gold>"}])
    client.users_track(attributes=[{"external_id": "second-user"}])
    assert count_rows(deps, BrazeRequestRecord) == 2
    page = admin.get("/admin/braze-connections/braze-main/requests").get_data(as_text=True)
    assert page.index("second-user") < page.index("first-user")
    assert "/users/track" in page and "POST" in page
    assert '"external_id": "first-user"' in page.replace("&#34;", '"')
    assert "&lt;gold&gt;" in page  # bodies are escaped, never markup
    assert "sandbox mode" in page
