"""Rights requests, email states and reconciliation against the Braze fake over HTTP, reusing
the preference center's configured property, tokens and fake."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db import models
from backend.jobs.rights import process_rights_request_job
from backend.services import propagation
from backend.services.admin_auth import create_api_token
from backend.services.deps import Deps
from tests.integration.preferences.conftest import (  # noqa: F401  (fixtures)
    PROPERTY,
    auth,
    braze,
    configured,
    connection_id,
    job_deps,
    token,
)

ADMIN = "/api/admin/v1"
PUBLIC = "/api/public/v1"
ORIGIN = "https://www.acme.com"


@pytest.fixture
def admin(configured: Deps) -> dict[str, str]:  # noqa: F811
    return auth(create_api_token(configured, "rights-tests"))


@pytest.fixture
def no_sleep(configured: Deps) -> list[float]:  # noqa: F811
    """Waits are recorded, not slept (Braze-fake windows that must really pass are not used)."""
    slept: list[float] = []
    configured.extras["sleep"] = slept.append
    return slept


def save(
    client: FlaskClient,
    changes: list[tuple[str, str, str]],
    *,
    sub: str = "user-1",
    email: str | None = None,
    bearer: str | None = None,
) -> dict[str, Any]:
    body = {
        "property": PROPERTY,
        "changes": [{"subscription": t, "channel": c, "state": s} for t, c, s in changes],
    }
    headers = auth(bearer or token(sub, email=email)) | {
        "Origin": ORIGIN,
        "User-Agent": "RightsTests/1",
    }
    response = client.post(f"{PUBLIC}/preferences", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def propagate(deps: Deps) -> propagation.Report:
    return propagation.propagate_connection(deps, connection_id(deps), rand=lambda: 0.0)


def run_rights_jobs(deps: Deps) -> list[Any]:
    """Run every rights job the recording queue holds, in order; returns their job ids."""
    ran = []
    for call in list(deps.jobs.calls):
        if call.func == "backend.jobs.rights.process_rights_request_job":
            process_rights_request_job(*call.args)
            ran.append(call.job_id)
    deps.jobs.calls.clear()
    return ran


def email_session(client: FlaskClient, deps: Deps, email: str) -> str:
    """An email-code session token, the way the widget gets one."""
    sent = client.post(f"{PUBLIC}/email-codes", json={"property": PROPERTY, "email": email})
    assert sent.status_code == 202
    with deps.session() as session:
        mail = session.scalars(
            select(models.MailMessage)
            .where(models.MailMessage.purpose == "email_code")
            .order_by(models.MailMessage.id.desc())
        ).first()
    assert mail is not None
    found = re.search(r"\b(\d{6})\b", mail.body)
    assert found
    granted = client.post(
        f"{PUBLIC}/email-codes/verify",
        json={"property": PROPERTY, "email": email, "code": found.group(1)},
    )
    assert granted.status_code == 200, granted.get_json()
    return str(granted.get_json()["session_token"])


def count(deps: Deps, model: Any) -> int:
    with deps.session() as session:
        return len(session.scalars(select(model)).all())
