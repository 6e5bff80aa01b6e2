"""One Braze fake server per session, reset before each test, and a real client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.integrations.braze import BrazeClient
from tests.fakes.braze_fake import BrazeFake


@pytest.fixture(scope="session")
def braze_fake_server() -> Iterator[BrazeFake]:
    with BrazeFake() as fake:
        yield fake


@pytest.fixture
def braze_fake(braze_fake_server: BrazeFake) -> BrazeFake:
    braze_fake_server.reset()
    braze_fake_server.on_segment_export = None
    return braze_fake_server


@pytest.fixture
def braze(braze_fake: BrazeFake) -> Iterator[BrazeClient]:
    with BrazeClient(rest_endpoint=braze_fake.url, api_key=braze_fake.api_key, timeout=5) as client:
        yield client
