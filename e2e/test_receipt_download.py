"""After a save the visitor downloads a consent receipt (Playwright's download API); it matches
what they chose, verifies, and its page link shows the same choices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from e2e.servers import CustomerSite
from e2e.stack import PROPERTY, OptlineStack
from e2e.test_center import open_center, save

pytestmark = pytest.mark.e2e


def test_receipt_downloaded_after_a_save_matches_the_choices(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    open_center(page, optline, site, "visitor-receipt")
    center = page.locator("[data-optline-preferences]")
    button = center.get_by_role("button", name="Download receipt")
    expect(center.get_by_role("button", name="Save preferences")).to_be_visible()
    expect(button).to_have_count(0)  # nothing saved yet: nothing to show a receipt of
    center.get_by_role("checkbox", name="Newsletter — Email").check()
    center.get_by_role("checkbox", name="Offers — Push").check()
    save(page)

    with page.expect_download() as download:
        button.click()
    expect(center.locator("[aria-live=polite]")).to_have_text("Receipt downloaded")
    receipt = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    name = download.value.suggested_filename
    assert name == f"optline-receipt-{receipt['consentReceiptID']}.json"
    states = {
        (p["subscription"], p["channel"]): p["consentState"]
        for service in receipt["services"]
        for p in service["purposes"]
    }
    assert states == {
        ("newsletter", "email"): "subscribed",
        ("newsletter", "sms"): "unsubscribed",
        ("offers", "email"): "unsubscribed",
        ("offers", "push"): "subscribed",
    }
    assert receipt["optline"]["property"] == PROPERTY
    assert "visitor-receipt" not in json.dumps(receipt)  # pseudonymous subject key only

    verified = page.request.post(receipt["optline"]["verifyUrl"], data=json.dumps(receipt))
    assert verified.json()["valid"] is True

    page.goto(receipt["optline"]["viewUrl"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Consent receipt")
    row = page.get_by_role("row").filter(has_text="Newsletter").filter(has_text="Email")
    expect(row).to_contain_text("Subscribed")
