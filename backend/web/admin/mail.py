"""The mail outbox: every message Optline recorded, and its body. In development without SMTP this
is where email codes, access-request links and run notifications are read."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from flask import render_template

from backend.services import admin_reads
from backend.web import current_deps
from backend.web.admin import bp
from backend.web.admin.views import cursor_page

MAIL_PAGE_SIZE = 50


@bp.get("/mail")
def mail_list() -> str:
    deps = current_deps()
    page = cursor_page(partial(admin_reads.list_mail, deps), MAIL_PAGE_SIZE)
    return render_template(
        "admin/mail_list.html", messages=page, smtp=bool(deps.settings.smtp_url or deps.mailer)
    )


@bp.get("/mail/<int:message_id>")
def mail_message(message_id: int) -> tuple[str, int, dict[str, str]]:
    message = admin_reads.get_mail(current_deps(), message_id)
    message["at"] = datetime.fromisoformat(message["at"])
    html = render_template("admin/mail_message.html", message=message)
    # A body may carry a one-time code or a download link: keep it out of caches.
    return html, 200, {"Cache-Control": "no-store"}
