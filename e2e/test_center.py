"""The preference center end to end: a customer's page on another origin with the PRODUCT 1.6
snippet, the real Optline app, propagation by an RQ worker to the Braze fake."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Request, expect

from backend.domain.texts import text
from e2e.pages import host_page, strict_csp
from e2e.servers import CustomerSite
from e2e.stack import GROUPS, PROPERTY, OptlineStack

pytestmark = pytest.mark.e2e


def open_center(
    page: Page, optline: OptlineStack, site: CustomerSite, visitor: str, *, lang: str = "en"
) -> None:
    """The visitor's account page, behind a strict CSP (no inline styles or scripts)."""
    nonce, headers = strict_csp(optline.url)
    html = host_page(
        f"{optline.url}/t/{PROPERTY}.js", token=optline.token(visitor), lang=lang, nonce=nonce
    )
    page.goto(site.add(f"/account-{visitor}", html, headers))


def save(page: Page, name: str = "Save preferences", saved: str = "Preferences saved") -> None:
    page.get_by_role("button", name=name).click()
    expect(page.locator("[aria-live=polite]")).to_have_text(saved)


def test_center_renders_with_two_requests_to_optline(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    to_optline: list[Request] = []
    page.on("request", lambda r: to_optline.append(r) if r.url.startswith(optline.url) else None)
    open_center(page, optline, site, "visitor-render")
    center = page.locator("[data-optline-preferences]")
    for name in ("Newsletter — Email", "Newsletter — SMS", "Offers — Email", "Offers — Push"):
        expect(center.get_by_role("checkbox", name=name)).not_to_be_checked()
    expect(center.get_by_text("Product news once a month")).to_be_visible()
    expect(center.get_by_role("checkbox", name="Unsubscribe from all")).not_to_be_checked()
    expect(center.get_by_role("button", name="Save preferences")).to_have_count(1)
    # Styles applied under the strict CSP (constructed stylesheet), themed by the property.
    button = center.get_by_role("button", name="Save preferences")
    assert button.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(138, 28, 124)"
    page.wait_for_load_state("networkidle")
    tag = ("GET", f"/t/{PROPERTY}.js")
    bootstrap = ("POST", f"/api/public/v1/{PROPERTY}/bootstrap")
    assert [(r.method, r.url.removeprefix(optline.url)) for r in to_optline] == [tag, bootstrap]
    # The server's view, which would also show a CORS preflight: there is none. The token goes in
    # a text/plain body, so the bootstrap call is a CORS simple request (PRODUCT §4: 2 requests).
    seen = [(method, path) for method, path, _ in optline.slot.seen]
    assert seen == [tag, bootstrap]


def test_subscribe_then_unsubscribe_reaches_braze(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    visitor = "visitor-toggle"
    group = GROUPS[("newsletter", "email")]
    open_center(page, optline, site, visitor)
    box = page.get_by_role("checkbox", name="Newsletter — Email")
    box.check()
    save(page)
    assert optline.propagate_until(lambda: optline.fake.group_state(group, visitor) == "subscribed")
    assert {"group": group, "state": "subscribed"} in optline.status_sets(visitor)

    page.reload()
    box = page.get_by_role("checkbox", name="Newsletter — Email")
    expect(box).to_be_checked()
    box.uncheck()
    save(page)
    assert optline.propagate_until(
        lambda: optline.fake.group_state(group, visitor) == "unsubscribed"
    )
    assert optline.status_sets(visitor)[-1] == {"group": group, "state": "unsubscribed"}
    # Nothing else was touched.
    assert {s["group"] for s in optline.status_sets(visitor)} == {group}


def test_unsubscribe_from_all(page: Page, optline: OptlineStack, site: CustomerSite) -> None:
    visitor = "visitor-all"
    open_center(page, optline, site, visitor)
    page.get_by_role("checkbox", name="Newsletter — Email").check()
    page.get_by_role("checkbox", name="Offers — Push").check()
    save(page)
    subscribed = {GROUPS[("newsletter", "email")], GROUPS[("offers", "push")]}
    assert optline.propagate_until(
        lambda: all(optline.fake.group_state(g, visitor) == "subscribed" for g in subscribed)
    )

    page.get_by_role("checkbox", name="Unsubscribe from all").check()
    for box in page.get_by_role("checkbox").all():
        name = box.get_attribute("aria-label")
        if name:  # every topic × channel choice is cleared at once
            expect(box).not_to_be_checked()
    save(page)
    assert optline.propagate_until(
        lambda: all(optline.fake.group_state(g, visitor) == "unsubscribed" for g in subscribed)
    )
    # ... and the global email/push states through /users/track (PRODUCT §2, flow 2).
    globals_set = [
        attrs
        for r in optline.fake.requests_to("/users/track")
        for attrs in r.body.get("attributes", [])
        if attrs.get("external_id") == visitor and "email_subscribe" in attrs
    ]
    assert globals_set[-1]["email_subscribe"] == "unsubscribed"
    assert globals_set[-1]["push_subscribe"] == "unsubscribed"
    page.reload()
    expect(page.get_by_role("checkbox", name="Unsubscribe from all")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Newsletter — Email")).not_to_be_checked()
    expect(page.get_by_role("checkbox", name="Offers — Push")).not_to_be_checked()


def test_spanish_page_gets_the_spanish_center(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    visitor = "visitor-es"
    save_es, saved_es = text("es", "save"), text("es", "saved")
    assert save_es != text("en", "save")
    open_center(page, optline, site, visitor, lang="es")
    email = text("es", "channel_email")
    box = page.get_by_role("checkbox", name=f"Boletín — {email}")
    expect(box).to_be_visible()
    expect(page.get_by_text("Novedades una vez al mes")).to_be_visible()
    expect(page.get_by_role("checkbox", name=text("es", "unsubscribe_all"))).to_be_visible()
    expect(page.get_by_role("button", name="Save preferences")).to_have_count(0)
    box.check()
    save(page, save_es, saved_es)
    group = GROUPS[("newsletter", "email")]
    assert optline.propagate_until(lambda: optline.fake.group_state(group, visitor) == "subscribed")


def test_demo_page_renders_the_center(page: Page, optline: OptlineStack) -> None:
    """`make dev`'s /demo page: same origin as Optline, sandbox Braze connection."""
    from backend.services.demo import seed_demo

    seed_demo(optline.deps)
    page.goto(f"{optline.url}/demo?lang=es")
    expect(
        page.get_by_role("checkbox", name=f"Boletín — {text('es', 'channel_email')}")
    ).to_be_visible()
    page.get_by_role("button", name="Open the preference dialog").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
