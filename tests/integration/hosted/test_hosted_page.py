"""GET /p/<property>: a verified link opens the center with a short session (ledger source
"hosted"); a forged, altered, expired or misdirected link is a 403 page that reads and writes
nothing."""

from __future__ import annotations

import json
import re
import time

import pytest
from flask.testing import FlaskClient

from backend.services.deps import Deps
from tests.integration.hosted.conftest import DAY, PROPERTY, ledger, link, row_counts

pytestmark = pytest.mark.integration
TOKEN_RE = re.compile(r"optline\('identify', \"([^\"]+)\"\)")
ORIGIN = "http://127.0.0.1:8000"  # OPTLINE_PUBLIC_URL in the test settings: the page's origin


def session_of(html: str) -> str:
    found = TOKEN_RE.search(html)
    assert found, "the page passes no session to the tag"
    return found.group(1)


def test_a_signed_link_opens_the_center_with_a_link_session(
    client: FlaskClient, configured: Deps
) -> None:
    before = row_counts(configured)
    response = client.get(link("user-7"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "data-optline-preferences" in html
    assert f'src="/p/{PROPERTY}/tag.js"' in html
    assert "ACME website" in html
    # Security headers: nonce CSP without 'unsafe-inline', no framing, no caching, no referrer.
    csp = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce and f'nonce="{nonce.group(1)}"' in html
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert row_counts(configured) == before  # opening the page writes nothing

    # The session is a widget session for that visitor; its choices are recorded as "hosted".
    token = session_of(html)
    change = {"subscription": "newsletter", "channel": "email", "state": "subscribed"}
    body = {"property": PROPERTY, "changes": [change], "token": token}
    saved = client.post(
        f"/api/public/v1/{PROPERTY}/preferences",
        data=json.dumps(body),
        content_type="text/plain;charset=UTF-8",
        headers={"Origin": ORIGIN},
    )
    assert saved.status_code == 200, saved.get_json()
    assert saved.headers["Access-Control-Allow-Origin"] == ORIGIN
    (entry,) = ledger(configured)
    assert (entry.source, entry.proof, entry.property) == ("hosted", "hmac_link", PROPERTY)


def test_the_page_language_follows_lang_then_the_browser(
    client: FlaskClient, configured: Deps
) -> None:
    es = client.get(link(), headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert '<html lang="es">' in es.get_data(as_text=True)
    en = client.get(link() + "&lang=en", headers={"Accept-Language": "es"})
    assert '<html lang="en">' in en.get_data(as_text=True)


def bad_links() -> dict[str, str]:
    now = int(time.time())
    return {
        "forged signature": link(edit={"sig": "0" * 64}),
        "signed with another secret": link(secret="not-the-property-secret-0123456789abcdef"),
        "altered uid": link("user-1", edit={"uid": "user-2"}),
        "altered timestamp": link(ts=now - 100, edit={"ts": str(now)}),
        "added topic": link(edit={"topic": "offers"}),
        "expired": link(ts=now - 31 * DAY),
        "from the future": link(ts=now + DAY),
        "signed for another property": link(signed_property="other-site"),
        "no signature": link(edit={"sig": ""}),
        "malformed timestamp": link(edit={"ts": "soon"}),
    }


@pytest.mark.parametrize("kind", list(bad_links()))
def test_a_bad_link_is_refused_and_nothing_is_read_or_written(
    client: FlaskClient, configured: Deps, kind: str
) -> None:
    before = row_counts(configured)
    response = client.get(bad_links()[kind])
    assert response.status_code == 403, kind
    html = response.get_data(as_text=True)
    assert "This link does not work" in html
    assert "identify" not in html and "tag.js" not in html
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert row_counts(configured) == before


def test_an_expired_link_says_so(client: FlaskClient, configured: Deps) -> None:
    response = client.get(link(ts=int(time.time()) - 31 * DAY))
    assert response.status_code == 403
    assert "This link has expired" in response.get_data(as_text=True)


def test_an_unknown_property_is_404(client: FlaskClient, configured: Deps) -> None:
    response = client.get(link(property_code="no-such-site"))
    assert response.status_code == 404
    assert "no such preference page" in response.get_data(as_text=True)


def test_the_hosted_tag_reads_the_identity_from_the_queue_only(
    client: FlaskClient, configured: Deps
) -> None:
    response = client.get(f"/p/{PROPERTY}/tag.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/javascript")
    body = response.get_data(as_text=True)
    assert '"identity_capture":[{"source":"queue"}]' in body
    assert '"property":"acme-web"' in body
    assert client.get("/p/no-such-site/tag.js").status_code == 404


def test_a_link_session_only_works_for_its_property(client: FlaskClient, configured: Deps) -> None:
    token = session_of(client.get(link()).get_data(as_text=True))
    response = client.post("/api/public/v1/other-site/bootstrap", json={"token": token})
    assert response.status_code == 401


def test_a_link_session_cannot_ask_for_data_or_its_deletion(
    client: FlaskClient, configured: Deps
) -> None:
    # A forwarded email would otherwise let its reader download or erase someone's data.
    token = session_of(client.get(link("user-9")).get_data(as_text=True))
    before = row_counts(configured)
    for kind in ("access", "erasure"):
        response = client.post(
            f"/api/public/v1/{PROPERTY}/rights-requests",
            data=json.dumps({"property": PROPERTY, "type": kind, "confirm": True, "token": token}),
            content_type="text/plain;charset=UTF-8",
            headers={"Origin": ORIGIN},
        )
        assert response.status_code == 403, response.get_json()
        assert response.get_json()["error"]["code"] == "forbidden"
    assert row_counts(configured) == before
    # The bootstrap tells the widget so, and it leaves the buttons out.
    boot = client.post(
        f"/api/public/v1/{PROPERTY}/bootstrap",
        data=json.dumps({"property": PROPERTY, "token": token}),
        content_type="text/plain;charset=UTF-8",
        headers={"Origin": ORIGIN},
    )
    assert boot.status_code == 200
    assert boot.get_json()["visitor"]["can_request_data"] is False
