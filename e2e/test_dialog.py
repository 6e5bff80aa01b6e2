"""Dialog mode, done with the keyboard alone: open from the page, choose, save, Escape."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from e2e.pages import host_page, strict_csp
from e2e.servers import CustomerSite
from e2e.stack import GROUPS, PROPERTY, OptlineStack

pytestmark = pytest.mark.e2e

MANAGE = """<p>How we contact you is up to you.</p>
<button type="button" id="manage">Manage preferences</button>
<script nonce="{nonce}">
  document.getElementById('manage').addEventListener('click', function () {{ optline('open'); }});
</script>"""


def dialog_page(page: Page, optline: OptlineStack, site: CustomerSite, visitor: str) -> None:
    nonce, headers = strict_csp(optline.url)
    html = host_page(
        f"{optline.url}/t/{PROPERTY}.js",
        token=optline.token(visitor),
        body=MANAGE.format(nonce=nonce),
        nonce=nonce,
    )
    page.goto(site.add(f"/dialog-{visitor}", html, headers))


def tab_to(page: Page, target: Locator, limit: int = 12) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el.getRootNode().activeElement === el"):
            return
    raise AssertionError(f"Tab never reached {target}")


def focus_in_dialog(page: Page) -> bool:
    return bool(page.evaluate("document.activeElement.matches('[data-optline-dialog]')"))


def test_dialog_with_the_keyboard_alone(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    visitor = "visitor-keyboard"
    dialog_page(page, optline, site, visitor)
    manage = page.get_by_role("button", name="Manage preferences")
    page.keyboard.press("Tab")
    expect(manage).to_be_focused()
    page.keyboard.press("Enter")

    dialog = page.get_by_role("dialog", name="Communication preferences")
    expect(dialog).to_be_visible()
    assert dialog.get_attribute("aria-modal") == "true"
    assert focus_in_dialog(page)
    box = dialog.get_by_role("checkbox", name="Newsletter — Email")
    expect(box).to_be_visible()

    tab_to(page, box)
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    save = dialog.get_by_role("button", name="Save preferences")
    tab_to(page, save)
    page.keyboard.press("Enter")
    expect(dialog.locator("[aria-live=polite]")).to_have_text("Preferences saved")

    # Focus stays inside while the dialog is open, both ways round.
    for key in ["Tab"] * 12 + ["Shift+Tab"] * 12:
        page.keyboard.press(key)
        assert focus_in_dialog(page), f"focus left the dialog after {key}"

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(manage).to_be_focused()

    group = GROUPS[("newsletter", "email")]
    assert optline.propagate_until(lambda: optline.fake.group_state(group, visitor) == "subscribed")

    # Opened again, it shows the saved state; the close button closes it too.
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(box).to_be_checked()
    dialog.get_by_role("button", name="Close").press("Enter")
    expect(dialog).to_be_hidden()
    expect(manage).to_be_focused()


def test_dialog_takes_no_room_on_the_page(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    dialog_page(page, optline, site, "visitor-layout")
    manage = page.get_by_role("button", name="Manage preferences")
    before = manage.bounding_box()
    height = page.evaluate("document.body.scrollHeight")
    manage.click()
    expect(page.get_by_role("checkbox", name="Offers — Push")).to_be_visible()
    assert manage.bounding_box() == before
    assert page.evaluate("document.body.scrollHeight") == height
    page.evaluate("optline('close')")
    expect(page.get_by_role("dialog")).to_be_hidden()
