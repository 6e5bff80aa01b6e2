"""Saves racing each other keep one subject per person and one unbroken ledger chain."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import func, select

from backend.db import models
from backend.services.deps import Deps
from backend.services.ledger import verify_chain
from tests.integration.preferences.conftest import PROPERTY, auth, token

pytestmark = pytest.mark.integration


def test_racing_saves_keep_the_chain_and_the_subjects_whole(app: Flask, configured: Deps) -> None:

    def worker(n: int) -> list[int]:
        client = app.test_client()
        codes = []
        for i in range(6):
            state = "subscribed" if (n + i) % 2 == 0 else "unsubscribed"
            body = {
                "property": PROPERTY,
                "changes": [{"subscription": "newsletter", "channel": "email", "state": state}],
            }
            sub = "shared-user" if i % 2 == 0 else f"user-{n}"
            response = client.post(
                "/api/public/v1/preferences", json=body, headers=auth(token(sub))
            )
            codes.append(response.status_code)
        return codes

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = [code for codes in pool.map(worker, range(6)) for code in codes]
    assert results == [200] * 36
    report = verify_chain(configured)
    assert report["ok"] is True and report["entries"] >= 7
    with configured.session() as session:
        shared = session.scalar(
            select(func.count())
            .select_from(models.Subject)
            .where(models.Subject.external_id == "shared-user")
        )
        prefs = session.scalar(select(func.count()).select_from(models.Preference))
        entries = session.scalar(select(func.count()).select_from(models.LedgerEntry))
        outbox = session.scalar(select(func.count()).select_from(models.OutboxEntry))
    assert shared == 1 and prefs == 7
    assert entries == outbox  # every change has its ledger entry and its outbox row
