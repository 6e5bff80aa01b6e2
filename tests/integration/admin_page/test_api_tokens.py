"""Admin API tokens on the settings page: shown once, stored hashed, revocable."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db.models import ApiToken, AuditEntry
from backend.services.admin_auth import hash_token
from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import count_rows, csrf_token, submit

TOKEN_RE = re.compile(r'id="new-token"[^>]*value="(olt_[^"]+)"')


def create_token(admin: FlaskClient, name: str = "ci-deploy") -> tuple[str, str]:
    response = submit(admin, "/admin/api-tokens", {"name": name})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    match = TOKEN_RE.search(page)
    assert match, page
    return match.group(1), page


def whoami(client: FlaskClient, token: str) -> int:
    response = client.get("/api/admin/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


def test_token_is_shown_once_and_stored_hashed(
    admin: FlaskClient, deps: Deps, admin_id: int
) -> None:
    token, page = create_token(admin)
    assert "shown only this once" in page
    with deps.session() as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.token_hash == hash_token(token)
        assert token not in (row.token_hash, row.prefix)
        assert token.startswith(row.prefix)
        assert row.created_by == admin_id
    listing = admin.get("/admin/api-tokens").get_data(as_text=True)
    assert "ci-deploy" in listing
    assert token not in listing
    assert whoami(admin, token) == 200


def test_token_creation_is_audited(admin: FlaskClient, deps: Deps) -> None:
    create_token(admin)
    with deps.session() as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.object_type, entry.object_code) == (
        "created",
        "api_token",
        "ci-deploy",
    )


def test_last_used_is_listed(admin: FlaskClient) -> None:
    token, _ = create_token(admin)
    before = admin.get("/admin/api-tokens").get_data(as_text=True)
    assert "never" in before
    whoami(admin, token)
    after = admin.get("/admin/api-tokens").get_data(as_text=True)
    assert "never" not in after.split("ci-deploy", 1)[1].split("</tr>", 1)[0]


def test_duplicate_name_is_refused(admin: FlaskClient, deps: Deps) -> None:
    create_token(admin)
    response = submit(admin, "/admin/api-tokens", {"name": "ci-deploy"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "already exists" in page
    assert TOKEN_RE.search(page) is None
    assert count_rows(deps, ApiToken) == 1


def test_empty_name_is_refused(admin: FlaskClient, deps: Deps) -> None:
    response = submit(admin, "/admin/api-tokens", {"name": "  "})
    assert response.status_code == 422
    assert count_rows(deps, ApiToken) == 0


def test_revoke_makes_the_api_answer_401(admin: FlaskClient, deps: Deps) -> None:
    token, page = create_token(admin)
    response = admin.post(
        "/admin/api-tokens/revoke", data={"csrf_token": csrf_token(page), "name": "ci-deploy"}
    )
    assert response.status_code == 302
    listing = admin.get("/admin/api-tokens").get_data(as_text=True)
    assert "API token ci-deploy revoked." in listing
    assert "revoked" in listing
    with deps.session() as session:
        assert session.scalars(select(ApiToken)).one().revoked_at is not None
    assert whoami(admin, token) == 401


def test_revoking_an_unknown_token_says_so(admin: FlaskClient) -> None:
    page = admin.get("/admin/api-tokens").get_data(as_text=True)
    admin.post("/admin/api-tokens/revoke", data={"csrf_token": csrf_token(page), "name": "nope"})
    assert "no API token named" in admin.get("/admin/api-tokens").get_data(as_text=True)
