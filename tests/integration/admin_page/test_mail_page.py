"""The dev mail outbox: messages newest first, and a message's body shown escaped."""

from __future__ import annotations

from flask.testing import FlaskClient

from backend.services.deps import Deps
from backend.services.mailer import send_mail


def test_outbox_lists_messages_and_shows_a_body(admin: FlaskClient, deps: Deps) -> None:
    first = send_mail(
        deps,
        to="ops@acme.com",
        subject="[Optline] sync braze-profiles: failed",
        body="Run: http://127.0.0.1:8000/admin/runs/1\n",
        purpose="sync_run",
    )
    second = send_mail(
        deps,
        to="jane@example.com",
        subject="Your code",
        body="Your code is 482913.\n<script>alert(1)</script>\n",
        purpose="email_code",
    )
    html = admin.get("/admin/mail").get_data(as_text=True)
    assert "No SMTP server is configured" in html
    assert html.index(f"/admin/mail/{second}") < html.index(f"/admin/mail/{first}")
    assert "jane@example.com" in html and "email_code" in html and ">shown</span>" in html
    response = admin.get(f"/admin/mail/{second}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert (
        '<pre class="mail-body">Your code is 482913.\n&lt;script&gt;alert(1)&lt;/script&gt;' in page
    )
    assert "<script>alert(1)" not in page


def test_an_unknown_message_is_404(admin: FlaskClient) -> None:
    response = admin.get("/admin/mail/12345")
    assert response.status_code == 404
    assert "mail message 12345 does not exist" in response.get_data(as_text=True)


def test_the_outbox_pages_newest_first(admin: FlaskClient, deps: Deps) -> None:
    ids = [
        send_mail(deps, to=f"p{i}@example.com", subject=f"Message {i}", body="-", purpose="test")
        for i in range(55)
    ]
    html = admin.get("/admin/mail").get_data(as_text=True)
    assert "Message 54" in html and "Message 4<" not in html
    assert f'href="/admin/mail?before={ids[5]}"' in html
    older = admin.get(f"/admin/mail?before={ids[5]}").get_data(as_text=True)
    assert "Message 4<" in older and "Message 0<" in older and "Message 5<" not in older
