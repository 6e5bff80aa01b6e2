"""Every form added for profile sync, propagation, visitors and rights refuses a POST without a
valid CSRF token (400), and nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db.models import (
    AuditEntry,
    BrazeRequestRecord,
    ExportGoal,
    ImportGoal,
    LedgerEntry,
    OutboxEntry,
    RightsRequest,
    Segment,
    SyncConnection,
    SyncRun,
)
from backend.domain.preferences import Change
from backend.services import configuration, preferences, sync_runs
from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import count_rows, submit, subscription_form
from tests.integration.admin_page.sync_page_forms import (
    seed_sync,
    segment_form,
    sync_connection_form,
)

TABLES = (
    Segment,
    SyncConnection,
    ImportGoal,
    ExportGoal,
    SyncRun,
    OutboxEntry,
    LedgerEntry,
    RightsRequest,
    AuditEntry,
    BrazeRequestRecord,
)


def snapshot(deps: Deps) -> dict[str, Any]:
    with deps.session() as session:
        statuses = {
            "runs": list(session.execute(select(SyncRun.id, SyncRun.status)).all()),
            "outbox": list(session.execute(select(OutboxEntry.id, OutboxEntry.status)).all()),
        }
    return {
        **{model.__name__: count_rows(deps, model) for model in TABLES},
        **statuses,
        "segment": configuration.get_object(deps, "segments", "vip"),
        "sync": configuration.get_object(deps, "sync_connections", "braze-profiles"),
    }


@pytest.fixture
def everything(admin: FlaskClient, deps: Deps) -> int:
    """Sync objects, a queued run, a visitor with a dead outbox row; returns the run id."""
    seed_sync(admin)
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
        for row in session.scalars(select(OutboxEntry)):
            row.status = "dead"
    (run,) = sync_runs.request_runs(deps, "braze-profiles", goal="braze-loyalty")
    return int(run["id"])


FORMS: list[tuple[str, dict[str, Any]]] = [
    ("/admin/segments/new", segment_form(code="vip-2")),
    ("/admin/segments/vip/", segment_form(name="Changed")),
    ("/admin/segments/vip/refresh", {}),
    ("/admin/sync-connections/new", sync_connection_form(code="second")),
    ("/admin/sync-connections/braze-profiles/", sync_connection_form(enabled=None)),
    ("/admin/sync-connections/braze-profiles/delete", {}),
    ("/admin/sync-connections/braze-profiles/run", {"goal": "vip-to-braze", "dry_run": "0"}),
    ("/admin/runs/{run}/cancel", {}),
    ("/admin/outbox/replay", {"scope": "all"}),
    (
        "/admin/visitors/preferences",
        {
            "edit-by": "external_id",
            "edit-value": "visitor-1",
            "edit-rows-0-subscription": "newsletter",
            "edit-rows-0-channel": "email",
            "edit-rows-0-state": "unsubscribed",
        },
    ),
    ("/admin/rights/new", {"type": "access", "by": "external_id", "value": "visitor-1"}),
    (
        "/admin/braze-connections/braze-main/email/blocklist",
        {"blocklist-emails": "a@example.com", "blocklist-confirm": "y"},
    ),
    (
        "/admin/braze-connections/braze-main/email/status",
        {"status-emails": "a@example.com", "status-state": "subscribed", "status-confirm": "y"},
    ),
]


@pytest.mark.parametrize(("url", "data"), FORMS)
@pytest.mark.parametrize("token", [None, "forged-token"])
def test_post_without_a_valid_csrf_token_is_refused(
    admin: FlaskClient,
    deps: Deps,
    everything: int,
    url: str,
    data: dict[str, Any],
    token: str | None,
) -> None:
    before = snapshot(deps)
    payload = dict(data) if token is None else {**data, "csrf_token": token}
    response = admin.post(url.format(run=everything), data=payload)
    assert response.status_code == 400
    assert "security token is missing or expired" in response.get_data(as_text=True)
    assert snapshot(deps) == before
