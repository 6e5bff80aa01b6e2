"""axe-core on the widget's shadow content, inline and as a dialog: no serious or critical
violations (WCAG 2.2 AA rules and axe's best practices)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from backend.domain.texts import text
from e2e.pages import host_page
from e2e.servers import CustomerSite
from e2e.stack import PROPERTY, OptlineStack

pytestmark = pytest.mark.e2e

OPEN_BUTTON = """<button type="button" id="manage">Manage preferences</button>
<script>
  document.getElementById('manage').addEventListener('click', function () { optline('open'); });
</script>"""


def serious_violations(page: Page, axe_path: Path, selector: str) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(axe_path))
    result: dict[str, Any] = page.evaluate(
        """async (selector) => {
            const r = await axe.run({include: [selector]}, {resultTypes: ['violations']});
            return {
                violations: r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' > ')),
                })),
                passes: r.passes.length,
            };
        }""",
        selector,
    )
    assert result["passes"] > 10, "axe checked (almost) nothing: is the widget rendered?"
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_axe_inline(page: Page, optline: OptlineStack, site: CustomerSite, axe_path: Path) -> None:
    html = host_page(f"{optline.url}/t/{PROPERTY}.js", token=optline.token("visitor-axe"))
    page.goto(site.add("/axe-inline", html))
    page.get_by_role("checkbox", name="Newsletter — Email").check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.locator("[aria-live=polite]")).to_have_text("Preferences saved")
    expect(page.get_by_text("Pending", exact=True)).to_be_visible()  # the badge, too
    assert serious_violations(page, axe_path, "[data-optline-preferences]") == []


def test_axe_dialog(page: Page, optline: OptlineStack, site: CustomerSite, axe_path: Path) -> None:
    html = host_page(
        f"{optline.url}/t/{PROPERTY}.js",
        token=optline.token("visitor-axe-dialog"),
        lang="es",
        body=OPEN_BUTTON,
    )
    page.goto(site.add("/axe-dialog", html))
    page.get_by_role("button", name="Manage preferences").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_role("button", name=text("es", "save"))).to_be_visible()
    assert serious_violations(page, axe_path, "[data-optline-dialog]") == []


def test_axe_email_form(
    page: Page, optline: OptlineStack, site: CustomerSite, axe_path: Path
) -> None:
    page.goto(site.add("/axe-email", host_page(f"{optline.url}/t/{PROPERTY}.js")))
    expect(page.get_by_role("textbox", name=text("en", "email_label"))).to_be_visible()
    assert serious_violations(page, axe_path, "[data-optline-preferences]") == []
