"""The hosted page, one-click unsubscribe and receipts, on the preference center's configured
property (tests/integration/preferences/conftest.py): signed links built as Braze Liquid does."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from backend.db import models
from backend.domain.hosted_links import link_query
from backend.services.deps import Deps
from tests.integration.preferences.conftest import (  # noqa: F401  (fixtures)
    PROPERTY,
    SECRET,
    braze,
    configured,
    row_counts,
)

DAY = 86400


def link(
    uid: str = "user-1",
    *,
    ts: int | None = None,
    topic: str | None = None,
    secret: str = SECRET,
    signed_property: str = PROPERTY,
    path: str = "/p/",
    property_code: str = PROPERTY,
    edit: dict[str, str] | None = None,
) -> str:
    """A link signed as the Liquid snippet of docs/hosted-page.md signs it; ``edit`` changes
    query values after signing (a forged or altered link)."""
    query = link_query(secret, signed_property, uid, int(time.time()) if ts is None else ts, topic)
    query.update(edit or {})
    return f"{path}{property_code}?{urlencode(query)}"


def ledger(deps: Deps) -> list[models.LedgerEntry]:
    with deps.session() as session:
        rows = list(session.scalars(select(models.LedgerEntry).order_by(models.LedgerEntry.id)))
        session.expunge_all()
    return rows


def outbox(deps: Deps) -> list[models.OutboxEntry]:
    with deps.session() as session:
        rows = list(session.scalars(select(models.OutboxEntry).order_by(models.OutboxEntry.id)))
        session.expunge_all()
    return rows


def jobs_named(deps: Deps, fragment: str) -> list[Any]:
    return [c for c in deps.jobs.calls if fragment in str(c.func)]
