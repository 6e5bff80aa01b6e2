"""Browser tests: Debian's Chromium, the real Optline app on one origin, a customer's site on
another, the Braze fake, Redis, and an in-process RQ worker."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from backend.jobs.runtime import set_deps
from e2e.servers import CustomerSite
from e2e.stack import OptlineStack, start_stack
from tests.conftest import database_server, database_url, redis_server, redis_url  # noqa: F401
from tests.fakes.braze_fake import BrazeFake

# Playwright cannot download its own browsers here: use the distribution's Chromium.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
E2E_DIR = Path(__file__).resolve().parent
AXE_JS = E2E_DIR.parent / "widget" / "node_modules" / "axe-core" / "axe.min.js"


def chromium_path() -> str:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    path = chromium_path()
    if not os.path.exists(path):
        pytest.fail(
            f"Chromium not found at {path}: run `make chromium` (or apt-get install chromium), "
            "or set CHROMIUM_PATH"
        )
    return {**browser_type_launch_args, "executable_path": path, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def braze_fake() -> Iterator[BrazeFake]:
    fake = BrazeFake().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def customer_site() -> Iterator[CustomerSite]:
    site = CustomerSite()
    yield site
    site.close()


@pytest.fixture
def site(customer_site: CustomerSite) -> Iterator[CustomerSite]:
    customer_site.reset()
    yield customer_site
    customer_site.reset()


@pytest.fixture
def optline(
    tmp_path: Path,
    database_url: str,  # noqa: F811
    redis_url: str,  # noqa: F811
    braze_fake: BrazeFake,
    site: CustomerSite,
) -> Iterator[OptlineStack]:
    braze_fake.reset()
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    stack = start_stack(
        instance=instance,
        database_url=database_url,
        redis_url=redis_url,
        fake=braze_fake,
        origin=site.origin,
    )
    yield stack
    stack.close()
    set_deps(None)


@pytest.fixture(autouse=True)
def no_page_errors(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """The tag never throws into the host page: any uncaught error there fails the test."""
    errors: list[str] = []
    if "page" not in request.fixturenames:
        yield errors
        return
    page: Page = request.getfixturevalue("page")
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield errors
    assert errors == [], f"errors thrown into the host page: {errors}"


@pytest.fixture
def axe_path() -> Path:
    if not AXE_JS.exists():
        pytest.fail("axe-core is missing: run `make node-deps` (npm ci in widget/)")
    return AXE_JS
