"""What the tag itself does, with the widget API scripted (page.route): the token it sends from
each capture source, the language it asks for, one global, pending badges, an API that is down."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from e2e.mock_api import MockApi, bootstrap_body
from e2e.pages import host_page
from e2e.servers import CustomerSite
from e2e.stack import PROPERTY, OptlineStack

pytestmark = pytest.mark.e2e

TOKEN = "header.payload.signature-of-the-visitor"


def mock(page: Page, optline: OptlineStack, site: CustomerSite, **handlers: Any) -> MockApi:
    api = MockApi(site.origin, dict(handlers))
    api.install(page, optline.url)
    return api


def ok_bootstrap(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    return 200, bootstrap_body(body.get("language", "en"))


@pytest.mark.parametrize(
    ("source", "setup", "query"),
    [
        ("cookie", f"document.cookie = 'optline_token={TOKEN}; path=/';", ""),
        ("window", f"window.acme = {{session: {{optlineToken: '{TOKEN}'}}}};", ""),
        (
            "data_layer",
            "window.dataLayer = [{optlineToken: 'older'}, {event: 'x'}, "
            f"{{optlineToken: '{TOKEN}'}}];",
            "",
        ),
        ("local_storage", f"localStorage.setItem('optline_token', '{TOKEN}');", ""),
        ("query", "", f"?optline_token={TOKEN}"),
    ],
    ids=["cookie", "window", "data_layer", "local_storage", "query"],
)
def test_token_captured_from_each_source(
    page: Page, optline: OptlineStack, site: CustomerSite, source: str, setup: str, query: str
) -> None:
    api = mock(page, optline, site, bootstrap=ok_bootstrap)
    url = site.add(f"/{source}", host_page(f"{optline.url}/t/{PROPERTY}.js", before_tag=setup))
    page.goto(url + query)
    expect(page.get_by_role("checkbox", name="Newsletter — Email")).to_be_visible()
    ((body, headers),) = api.calls_to("bootstrap")
    # In the text/plain body, not a header: a CORS simple request, so no preflight (PRODUCT §4).
    assert body == {"property": PROPERTY, "language": "en", "token": TOKEN}
    assert "authorization" not in headers
    assert headers["content-type"] == "text/plain;charset=UTF-8"


def test_sources_are_tried_in_the_configured_order(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    api = mock(page, optline, site, bootstrap=ok_bootstrap)
    setup = "document.cookie = 'optline_token=from-the-cookie; path=/';"
    url = site.add(
        "/both",
        host_page(f"{optline.url}/t/{PROPERTY}.js", token="from-the-queue", before_tag=setup),
    )
    page.goto(url)
    expect(page.get_by_role("checkbox", name="Offers — Push")).to_be_visible()
    assert [b["token"] for b, _ in api.calls_to("bootstrap")] == ["from-the-queue"]


def test_no_token_no_call_and_nothing_shown_without_email_verification(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    api = mock(page, optline, site)
    # This property offers the email code, so turn it off in the served config for this test.
    page.route(
        f"{optline.url}/t/{PROPERTY}.js",
        lambda route: route.fulfill(
            response=route.fetch(),
            body=route.fetch()
            .text()
            .replace('"email_verification":true', '"email_verification":false'),
        ),
    )
    url = site.add("/anon", host_page(f"{optline.url}/t/{PROPERTY}.js", head=LISTEN))
    page.goto(url)
    page.wait_for_function("window.optlineEvents.some(e => e.type === 'optline:error')")
    assert events(page)[-1] == {
        "type": "optline:error",
        "detail": {"code": "no_identity", "status": 0},
    }
    assert api.calls == []
    assert (
        page.locator("[data-optline-preferences]").evaluate(
            "el => el.getBoundingClientRect().height"
        )
        == 0
    )


LISTEN = """<script>
  window.optlineEvents = [];
  ['optline:ready', 'optline:saved', 'optline:error'].forEach(function (type) {
    document.addEventListener(type, function (e) {
      window.optlineEvents.push({type: type, detail: e.detail});
    });
  });
</script>"""


def events(page: Page) -> list[dict[str, Any]]:
    return page.evaluate("JSON.parse(JSON.stringify(window.optlineEvents))")


def test_one_global_queue_replayed_and_events(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    saved = {"saved": 1, "unsubscribed_all": False}

    def save(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        states = {
            (c["subscription"], c["channel"]): (c["state"], "pending") for c in body["changes"]
        }
        return 200, {"topics": bootstrap_body(states=states)["topics"], **saved}

    api = mock(page, optline, site, bootstrap=ok_bootstrap, preferences=save)
    # The tag is added after the page has loaded, so the globals before and after can be compared.
    html = host_page("about:blank", token=TOKEN, head=LISTEN).replace(
        '<script async src="about:blank"></script>', ""
    )
    page.goto(site.add("/globals", html))
    before = set(page.evaluate("Object.keys(window)"))
    assert page.evaluate("window.optline.q.length") == 1
    page.add_script_tag(url=f"{optline.url}/t/{PROPERTY}.js")
    expect(page.get_by_role("checkbox", name="Newsletter — SMS")).to_be_visible()
    assert set(page.evaluate("Object.keys(window)")) - before == set()
    assert page.evaluate("typeof window.optline === 'function' && window.optline.q === undefined")
    assert events(page)[0] == {
        "type": "optline:ready",
        "detail": {"property": PROPERTY, "language": "en"},
    }

    page.get_by_role("checkbox", name="Newsletter — SMS").check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.locator("[aria-live=polite]")).to_have_text("Preferences saved")
    ((body, _),) = api.calls_to("preferences")
    assert body == {
        "property": PROPERTY,
        "language": "en",
        "changes": [{"subscription": "newsletter", "channel": "sms", "state": "subscribed"}],
        "unsubscribe_all": False,
        "token": TOKEN,
    }
    assert events(page)[-1]["type"] == "optline:saved"
    assert events(page)[-1]["detail"]["saved"] == 1


def test_pending_badge_until_braze_has_the_change(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    answers = iter([("subscribed", "pending"), ("subscribed", "pending"), ("subscribed", "synced")])

    def bootstrap(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        state = next(answers, ("subscribed", "synced"))
        return 200, bootstrap_body(states={("newsletter", "email"): state})

    api = mock(page, optline, site, bootstrap=bootstrap)
    page.goto(site.add("/pending", host_page(f"{optline.url}/t/{PROPERTY}.js", token=TOKEN)))
    box = page.get_by_role("checkbox", name="Newsletter — Email")
    expect(box).to_be_checked()
    expect(box).to_have_accessible_description("Pending")
    expect(page.get_by_text("Pending", exact=True)).to_be_visible()
    expect(page.get_by_text("Pending", exact=True)).to_have_count(0, timeout=10_000)
    expect(box).to_have_accessible_description("")
    assert len(api.calls_to("bootstrap")) == 3


def test_api_down_renders_nothing_and_throws_nothing(
    page: Page, optline: OptlineStack, site: CustomerSite
) -> None:
    page.route(f"{optline.url}/api/public/v1/**", lambda route: route.abort("connectionrefused"))
    page.goto(
        site.add("/down", host_page(f"{optline.url}/t/{PROPERTY}.js", token=TOKEN, head=LISTEN))
    )
    page.wait_for_function("window.optlineEvents.some(e => e.type === 'optline:error')")
    assert events(page)[-1]["detail"] == {"code": "network", "status": 0}
    expect(page.get_by_role("checkbox")).to_have_count(0)
    page.evaluate("optline('open'); optline('close'); optline('identify', 42); optline('nonsense')")


@pytest.mark.parametrize(("lang", "expected"), [("es-MX", "es"), ("fr", "en"), ("ES", "es")])
def test_language_from_the_page(
    page: Page, optline: OptlineStack, site: CustomerSite, lang: str, expected: str
) -> None:
    api = mock(page, optline, site, bootstrap=ok_bootstrap)
    page.goto(
        site.add("/lang", host_page(f"{optline.url}/t/{PROPERTY}.js", token=TOKEN, lang=lang))
    )
    expect(page.get_by_role("checkbox").first).to_be_visible()
    ((body, _),) = api.calls_to("bootstrap")
    assert body["language"] == expected
