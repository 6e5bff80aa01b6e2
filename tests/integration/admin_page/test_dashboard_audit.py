"""The dashboard's counts and the paged audit log."""

from __future__ import annotations

from flask.testing import FlaskClient

from backend.services.audit import record_change
from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import create_connection


def test_dashboard_counts_objects(admin: FlaskClient) -> None:
    create_connection(admin, sandbox="y")
    create_connection(admin, code="braze-two", sandbox="y")
    page = admin.get("/admin/").get_data(as_text=True)
    assert '<p class="stat__value">2</p>' in page
    assert 'href="/admin/properties/new"' in page
    assert "created braze_connection <code>braze-two</code>" in page
    assert 'aria-current="page">Dashboard' in page


def test_audit_log_is_newest_first_and_paged(admin: FlaskClient, deps: Deps) -> None:
    with deps.session() as session:
        for number in range(60):
            record_change(
                session,
                actor="cli:apply",
                action="changed",
                object_type="subscription",
                object_code=f"topic-{number:02d}",
            )
    first = admin.get("/admin/audit").get_data(as_text=True)
    assert first.index("topic-59") < first.index("topic-58")
    assert "topic-09" not in first
    assert 'rel="next"' in first
    older = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = admin.get(older.replace("&amp;", "&")).get_data(as_text=True)
    assert "topic-09" in second and "topic-00" in second
    assert "topic-10" not in second
    assert 'rel="next"' not in second
    assert ">Newest</a>" in second


def test_bad_page_argument_falls_back_to_the_first_page(admin: FlaskClient) -> None:
    assert admin.get("/admin/audit?before=abc").status_code == 200
    assert admin.get("/admin/audit?before=99999999999999999999999").status_code == 200
