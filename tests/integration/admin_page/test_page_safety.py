"""No admin page shows a secret, every one sends the CSP, and none has inline script or style."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db.models import BrazeConnection
from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import (
    API_KEY,
    HS_SECRET,
    S3_SECRET,
    connection_form,
    create_connection,
    csrf_token,
    property_form,
    submit,
    subscription_form,
)

SECRETS = (API_KEY, S3_SECRET, HS_SECRET)


class PageParser(HTMLParser):
    """Collects links, inline scripts with content, and style attributes or elements."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if "style" in names:
            self.problems.append(f"style attribute on <{tag}>")
        if any(name.startswith("on") for name in names):
            self.problems.append(f"inline event handler on <{tag}>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            self._in_script = "src" not in names
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("inline <script> with content")


def seed(admin: FlaskClient, deps: Deps) -> None:
    create_connection(
        admin,
        sandbox="y",
        s3_bucket="acme-exports",
        s3_access_key_id="AKIA1",
        s3_secret_access_key=S3_SECRET,
    )
    assert submit(admin, "/admin/subscriptions/new", subscription_form()).status_code == 302
    assert submit(admin, "/admin/properties/new", property_form()).status_code == 302
    with deps.session() as session:
        connection_id = session.scalars(select(BrazeConnection.id)).one()
    with deps.session() as session:
        client = deps.braze_factory(session, connection_id)
    client.users_track(attributes=[{"external_id": "visitor-1"}])
    assert submit(admin, "/admin/api-tokens", {"name": "ci"}).status_code == 200


def crawl(client: FlaskClient, start: str = "/admin/") -> dict[str, str]:
    """Every admin page reachable by links from the dashboard, by URL."""
    seen: dict[str, str] = {}
    queue = [start]
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        seen[url] = check_page(response.get_data(as_text=True), response.headers, url)
        parser = PageParser()
        parser.feed(seen[url])
        for href in parser.links:
            target = urljoin(url, href)
            parts = urlsplit(target)
            if not parts.netloc and parts.path.startswith("/admin"):
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


def check_page(html: str, headers: object, url: str) -> str:
    csp = headers["Content-Security-Policy"]  # type: ignore[index]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp, url
    assert headers["X-Frame-Options"] == "DENY", url  # type: ignore[index]
    parser = PageParser()
    parser.feed(html)
    assert parser.problems == [], (url, parser.problems)
    for secret in SECRETS:
        assert secret not in html, (url, secret)
    assert "&lt;redacted&gt;" not in html and "<redacted>" not in html, url
    return html


def test_no_page_shows_a_secret_or_breaks_the_csp(admin: FlaskClient, deps: Deps) -> None:
    seed(admin, deps)
    pages = crawl(admin)
    expected = {
        "/admin/",
        "/admin/braze-connections/",
        "/admin/braze-connections/braze-main/",
        "/admin/braze-connections/braze-main/requests",
        "/admin/braze-connections/new",
        "/admin/properties/acme-web/",
        "/admin/subscriptions/newsletter/delete",
        "/admin/api-tokens",
        "/admin/audit",
    }
    assert expected <= set(pages)
    # Pages only reached by POST: the connection test and forms shown again with errors.
    token = csrf_token(pages["/admin/"])
    tested = admin.post("/admin/braze-connections/braze-main/test", data={"csrf_token": token})
    check_page(tested.get_data(as_text=True), tested.headers, "test")
    for url, form in (
        ("/admin/braze-connections/new", connection_form(code="Bad Code", sandbox="y")),
        ("/admin/properties/new", property_form(code="Bad Code")),
    ):
        response = admin.post(url, data={**form, "csrf_token": token})
        assert response.status_code == 422
        check_page(response.get_data(as_text=True), response.headers, url)


def test_login_and_error_pages_are_safe(client: FlaskClient) -> None:
    for url in ("/admin/login", "/admin/login?next=/admin/audit"):
        response = client.get(url)
        check_page(response.get_data(as_text=True), response.headers, url)
    refused = client.post("/admin/login", data={"email": "a@b.c", "password": "x"})
    assert refused.status_code == 400
    check_page(refused.get_data(as_text=True), refused.headers, "csrf error")


def test_stylesheet_is_served_from_the_app(client: FlaskClient) -> None:
    page = client.get("/admin/login").get_data(as_text=True)
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert href and href.group(1) == "/static/admin/admin.css"
    css = client.get(href.group(1))
    assert css.status_code == 200
    assert ":focus-visible" in css.get_data(as_text=True)
    css.close()
