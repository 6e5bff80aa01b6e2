"""Rights requests of visitors known only by email (email-code sessions, Braze user aliases)."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db import models
from backend.services.deps import Deps
from tests.fakes.braze_fake import BrazeFake
from tests.integration.preferences.conftest import PROPERTY, auth
from tests.integration.rights.conftest import (
    PUBLIC,
    email_session,
    propagate,
    run_rights_jobs,
    save,
)

pytestmark = pytest.mark.integration
EMAIL = "solo.visitor@example.com"
ALIAS = {"alias_name": EMAIL, "alias_label": "optline_email"}


def ask(client: FlaskClient, bearer: str, kind: str) -> str:
    body = {"property": PROPERTY, "type": kind, "confirm": kind == "erasure"}
    response = client.post(f"{PUBLIC}/rights-requests", json=body, headers=auth(bearer))
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["id"])


def test_access_reads_the_alias_profile_and_mails_the_address(
    client: FlaskClient, job_deps: Deps, braze: BrazeFake
) -> None:
    bearer = email_session(client, job_deps, EMAIL)
    save(client, [("newsletter", "email", "subscribed")], bearer=bearer)
    propagate(job_deps)
    public_id = ask(client, bearer, "access")
    run_rights_jobs(job_deps)
    read = client.get(
        f"{PUBLIC}/rights-requests/{public_id}?property={PROPERTY}", headers=auth(bearer)
    )
    assert read.get_json()["status"] == "completed"
    export = braze.requests_to("/users/export/ids")[-1].body
    assert export["user_aliases"] == [ALIAS] and "external_ids" not in export
    url = read.get_json()["download_url"]
    document = json.loads(client.get(url[url.index("/rights/") :]).data)
    assert document["identifiers"]["braze_aliases"] == [ALIAS]
    assert document["braze"]["braze-main"]["users"][0]["user_aliases"] == [ALIAS]
    with job_deps.session() as session:
        mail = session.scalars(
            select(models.MailMessage).where(models.MailMessage.purpose == "rights_access")
        ).one()
    assert mail.to_address == EMAIL


def test_erasure_deletes_the_alias_and_only_unidentified_profiles_by_email(
    client: FlaskClient, job_deps: Deps, braze: BrazeFake
) -> None:
    braze.add_user("someone-identified", attributes={"email": EMAIL})
    bearer = email_session(client, job_deps, EMAIL)
    save(client, [("newsletter", "email", "subscribed")], bearer=bearer)
    propagate(job_deps)
    ask(client, bearer, "erasure")
    run_rights_jobs(job_deps)
    deletes = [r.body for r in braze.requests_to("/users/delete")]
    assert {"user_aliases": [ALIAS]} in deletes
    by_email = next(b for b in deletes if "email_addresses" in b)
    assert by_email["email_addresses"][0]["prioritization"][0] == "unidentified"
    assert braze.user(alias=(EMAIL, "optline_email")) is None
    # A visitor who proved only the address never erases an identified Braze user with it.
    assert braze.user("someone-identified") is not None
    with job_deps.session() as session:
        assert session.scalars(select(models.Subject)).all() == []
        assert session.scalars(select(models.EmailCode)).all() == []
