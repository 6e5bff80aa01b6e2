"""The hosted preference page and one-click unsubscribe, opened from signed links as a Braze
email carries them, in Chromium against the real app and the Braze fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, expect
from sqlalchemy import select

from backend.db.models import LedgerEntry
from backend.services.hosted_links import signed_url
from e2e.stack import GROUPS, PROPERTY, OptlineStack
from e2e.test_a11y import serious_violations

pytestmark = pytest.mark.e2e


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """A page whose CSP lets axe's script in: the hosted pages allow no inline script at all."""
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == []


def sources(optline: OptlineStack) -> set[tuple[str, str]]:
    with optline.deps.session() as session:
        return {(e.source, e.proof) for e in session.scalars(select(LedgerEntry))}


def test_the_hosted_page_from_a_signed_link_saves_as_hosted(
    page: Page, optline: OptlineStack
) -> None:
    visitor = "visitor-hosted"
    to_optline: list[Request] = []
    page.on("request", lambda r: to_optline.append(r))
    response = page.goto(signed_url(optline.deps, PROPERTY, visitor))
    assert response is not None and response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    expect(page.get_by_role("heading", level=1)).to_have_text("ACME website")
    center = page.locator("[data-optline-preferences]")
    box = center.get_by_role("checkbox", name="Newsletter — Email")
    expect(box).not_to_be_checked()
    # A link from an email may change choices but not ask for data: no access/erasure buttons.
    expect(center.get_by_role("button", name="Download my data")).to_have_count(0)
    expect(center.get_by_role("button", name="Delete my data")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    # The page, its stylesheet, the tag and one bootstrap call: no preflight, no other call.
    paths = [(r.method, r.url.removeprefix(optline.url).split("?")[0]) for r in to_optline]
    assert paths == [
        ("GET", f"/p/{PROPERTY}"),
        ("GET", "/static/hosted/hosted.css"),
        ("GET", f"/p/{PROPERTY}/tag.js"),
        ("POST", f"/api/public/v1/{PROPERTY}/bootstrap"),
    ]
    assert not [m for m, _, _ in optline.slot.seen if m == "OPTIONS"]

    box.check()
    center.get_by_role("button", name="Save preferences").click()
    expect(center.locator("[aria-live=polite]")).to_have_text("Preferences saved")
    group = GROUPS[("newsletter", "email")]
    assert optline.propagate_until(lambda: optline.fake.group_state(group, visitor) == "subscribed")
    assert sources(optline) == {("hosted", "hmac_link")}


def test_a_forged_link_shows_a_refusal_and_no_center(page: Page, optline: OptlineStack) -> None:
    url = signed_url(optline.deps, PROPERTY, "visitor-forged")
    response = page.goto(url.replace("uid=visitor-forged", "uid=someone-else"))
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("This link does not work")
    expect(page.locator("[data-optline-preferences]")).to_have_count(0)
    assert optline.fake.requests == []


def test_axe_on_the_hosted_page(axe_page: Page, optline: OptlineStack, axe_path: Path) -> None:
    page = axe_page
    page.goto(signed_url(optline.deps, PROPERTY, "visitor-hosted-axe"))
    page.get_by_role("checkbox", name="Offers — Push").check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.locator("[aria-live=polite]")).to_have_text("Preferences saved")
    assert serious_violations(page, axe_path, "html") == []


def test_one_click_unsubscribe_from_the_confirmation_page(
    axe_page: Page, optline: OptlineStack, axe_path: Path
) -> None:
    page = axe_page
    visitor = "visitor-one-click"
    group = GROUPS[("offers", "email")]
    optline.fake.add_user(external_id=visitor)
    url = signed_url(optline.deps, PROPERTY, visitor, unsubscribe=True, topic="offers")
    page.goto(url)
    expect(page.get_by_text("Unsubscribe from “Offers”?")).to_be_visible()
    assert sources(optline) == set()  # the GET changed nothing
    assert serious_violations(page, axe_path, "html") == []
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("status")).to_have_text("You are unsubscribed from “Offers”.")
    assert page.url == url  # no redirect
    assert sources(optline) == {("one_click", "hmac_link")}
    assert optline.propagate_until(
        lambda: optline.fake.group_state(group, visitor) == "unsubscribed"
    )
