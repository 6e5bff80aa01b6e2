"""Identity: only a valid token (or a verified email code) shows choices; capture alone never
authorises; a page on an origin the property does not allow is refused."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from backend.domain.texts import text
from e2e.pages import host_page
from e2e.servers import CustomerSite
from e2e.stack import PROPERTY, OptlineStack, forge_token

pytestmark = pytest.mark.e2e

LISTEN = """<script>
  window.optlineEvents = [];
  ['optline:ready', 'optline:saved', 'optline:error'].forEach(function (type) {
    document.addEventListener(type, function (e) {
      window.optlineEvents.push({type: type, detail: e.detail});
    });
  });
</script>"""


def first_error(page: Page) -> dict[str, Any]:
    page.wait_for_function("window.optlineEvents.some(e => e.type === 'optline:error')")
    errors = page.evaluate("window.optlineEvents.filter(e => e.type === 'optline:error')")
    detail: dict[str, Any] = errors[0]["detail"]
    return detail


def unsigned(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def bad_tokens() -> dict[str, str]:
    now = int(time.time())
    good = {"aud": PROPERTY, "sub": "visitor-forged", "iat": now, "exp": now + 600}
    return {
        "wrong key": forge_token(good, secret="not-the-site-secret-0123456789-abcdefghijk"),
        "expired": forge_token({**good, "iat": now - 7200, "exp": now - 3600}),
        "wrong audience": forge_token({**good, "aud": "another-site"}),
        "too long-lived": forge_token({**good, "exp": now + 7200}),
        "alg none": unsigned(good),
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize("kind", list(bad_tokens()))
def test_bad_token_shows_no_choice_and_sends_nothing(
    page: Page, optline: OptlineStack, site: CustomerSite, kind: str
) -> None:
    token = bad_tokens()[kind]
    calls: list[Request] = []
    page.on("request", lambda r: calls.append(r) if "/api/public/v1/" in r.url else None)
    page.goto(
        site.add("/forged", host_page(f"{optline.url}/t/{PROPERTY}.js", token=token, head=LISTEN))
    )
    assert first_error(page) == {"code": "invalid_token", "status": 401}
    # The property offers the email code instead; no choice is shown.
    expect(page.get_by_role("textbox", name=text("en", "email_label"))).to_be_visible()
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("button", name="Save preferences")).to_have_count(0)
    # A page script cannot use the widget to save either: it has nothing to save with.
    page.evaluate("optline('open')")
    expect(page.get_by_role("checkbox")).to_have_count(0)
    assert [r.url.rsplit("/", 1)[-1] for r in calls] == ["bootstrap"]
    optline.run_worker()
    assert optline.fake.requests == []


def test_disallowed_origin_is_refused(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    token = optline.token("visitor-elsewhere")
    url = site.add(
        "/elsewhere", host_page(f"{optline.url}/t/{PROPERTY}.js", token=token, head=LISTEN)
    )
    page.goto(url.replace(site.origin, site.other_origin))
    # The browser cannot read an answer without CORS headers: the tag sees a network failure.
    assert first_error(page) == {"code": "network", "status": 0}
    expect(page.get_by_role("checkbox")).to_have_count(0)
    refused = [s for s in optline.slot.seen if s[1].startswith("/api/public/v1/")]
    assert refused and all(status == 403 for _, _, status in refused)
    # The same call with that Origin, made directly: refused before any view runs.
    response = page.request.post(
        f"{optline.url}/api/public/v1/{PROPERTY}/preferences",
        headers={"Origin": site.other_origin, "Authorization": f"Bearer {token}"},
        data={
            "changes": [{"subscription": "newsletter", "channel": "email", "state": "subscribed"}]
        },
    )
    assert response.status == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in response.headers
    optline.run_worker()
    assert optline.fake.requests == []


def test_email_code_flow(page: Page, optline: OptlineStack, site: CustomerSite) -> None:
    email = "someone@example.com"
    page.goto(site.add("/no-token", host_page(f"{optline.url}/t/{PROPERTY}.js")))
    expect(page.get_by_role("checkbox")).to_have_count(0)
    page.get_by_role("textbox", name=text("en", "email_label")).fill(email)
    page.get_by_role("button", name=text("en", "email_send")).click()
    code_box = page.get_by_role("textbox", name=text("en", "code_label"))
    expect(code_box).to_be_focused()
    expect(page.locator("[aria-live=polite]")).to_have_text(text("en", "code_sent"))
    code = optline.latest_code(email)

    wrong = "000000" if code != "000000" else "111111"
    code_box.fill(wrong)
    page.get_by_role("button", name=text("en", "code_verify")).click()
    expect(page.locator("[aria-live=polite]")).to_have_text(text("en", "code_invalid"))
    expect(page.get_by_role("checkbox")).to_have_count(0)

    code_box.fill(code)
    page.get_by_role("button", name=text("en", "code_verify")).click()
    box = page.get_by_role("checkbox", name="Newsletter — Email")
    expect(box).to_be_visible()
    expect(box).to_be_focused()  # the form that had the focus is gone: its successor takes it
    box.check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.locator("[aria-live=polite]")).to_have_text("Preferences saved")
    assert optline.preferences_of(email=email) == {("newsletter", "email"): "subscribed"}
    # The session lives in the page's memory only: after a reload the code is asked again.
    page.reload()
    expect(page.get_by_role("textbox", name=text("en", "email_label"))).to_be_visible()
    expect(page.get_by_role("checkbox")).to_have_count(0)


def test_identify_after_load_shows_the_visitor(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    """A single-page app signs the visitor in after the tag has loaded."""
    page.goto(site.add("/spa", host_page(f"{optline.url}/t/{PROPERTY}.js")))
    expect(page.get_by_role("textbox", name=text("en", "email_label"))).to_be_visible()
    page.evaluate("token => optline('identify', token)", optline.token("visitor-late"))
    expect(page.get_by_role("checkbox", name="Newsletter — Email")).to_be_visible()
    expect(page.get_by_role("textbox", name=text("en", "email_label"))).to_have_count(0)


def test_unknown_property_tag_is_harmless(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    html = host_page(f"{optline.url}/t/no-such-site.js", token=optline.token("visitor-x"))
    page.goto(site.add("/unknown", html))
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.optline.q.length") == 1  # the stub keeps queueing, nothing runs
    page.evaluate("optline('open')")
    expect(page.get_by_role("checkbox")).to_have_count(0)
