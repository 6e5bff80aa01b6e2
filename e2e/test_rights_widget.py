"""Rights requests from the widget on a customer's page: "Download my data" until the download
link works, and "Delete my data" behind its confirmation step until Braze has /users/delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select

from backend.db.models import RightsRequest
from e2e.servers import CustomerSite
from e2e.stack import OptlineStack
from e2e.test_center import open_center, save

pytestmark = pytest.mark.e2e
WAIT_MS = 30_000  # the widget polls politely: 2 s, then 3 s, 5 s …


def center(page: Page) -> Locator:
    return page.locator("[data-optline-preferences]")


def requests_made(optline: OptlineStack) -> int:
    with optline.deps.session() as session:
        return int(session.scalar(select(func.count()).select_from(RightsRequest)) or 0)


def test_access_request_until_the_download_link_works(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    visitor = "visitor-access"
    optline.fake.add_user(external_id=visitor, attributes={"first_name": "Ada"})
    open_center(page, optline, site, visitor)
    center(page).get_by_role("checkbox", name="Newsletter — Email").check()
    save(page)
    status = center(page).locator(".rs")  # the requests' own status region (role=status)

    center(page).get_by_role("button", name="Download my data").click()
    expect(status).to_have_text("Request received. We will start on it shortly.")
    assert requests_made(optline) == 1
    optline.run_worker()  # the access job: Braze /users/export/ids, then the package
    link = center(page).get_by_role("link", name="Download your data")
    expect(link).to_be_visible(timeout=WAIT_MS)
    expect(status).to_have_text("Your data is ready. Download your data")
    expect(status).to_have_attribute("role", "status")
    assert optline.fake.requests_to("/users/export/ids")

    with page.expect_download() as download:
        link.click()
    document = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    text = json.dumps(document)
    assert visitor in text and "Ada" in text and "newsletter" in text


def test_erasure_needs_a_second_confirmation_then_reaches_braze(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    visitor = "visitor-erase"
    optline.fake.add_user(external_id=visitor)
    open_center(page, optline, site, visitor)
    box = center(page).get_by_role("checkbox", name="Offers — Email")
    box.check()
    save(page)
    erase = center(page).get_by_role("button", name="Delete my data")
    confirm = center(page).get_by_role("group", name="This deletes your preferences")
    cancel = center(page).get_by_role("button", name="Cancel")

    # The first click only asks; focus goes to the safe choice, and back when it closes.
    erase.click()
    expect(confirm).to_be_visible()
    expect(cancel).to_be_focused()
    page.keyboard.press("Enter")
    expect(confirm).to_be_hidden()
    expect(erase).to_be_focused()
    assert requests_made(optline) == 0

    erase.click()
    center(page).get_by_role("button", name="Yes, delete my data").click()
    expect(erase).to_be_focused()
    status = center(page).locator(".rs")
    expect(status).to_have_text("Request received. We will start on it shortly.")
    assert requests_made(optline) == 1
    optline.run_worker()  # the erasure job
    expect(status).to_have_text("Your data has been deleted.", timeout=WAIT_MS)
    deleted = [
        external_id
        for r in optline.fake.requests_to("/users/delete")
        for external_id in r.body.get("external_ids", [])
    ]
    assert deleted == [visitor]
    assert optline.preferences_of(external_id=visitor) == {}
    expect(box).not_to_be_checked()  # the center shows what is left: nothing
