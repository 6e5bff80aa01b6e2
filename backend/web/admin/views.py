"""The dashboard, the audit log, and the section nav every admin page shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from flask import render_template, request, url_for

from backend.domain.errors import IntegrationError
from backend.services import configuration
from backend.services.api_tokens import list_api_tokens
from backend.services.consent_stats import consent_charts, outbox_health
from backend.web import current_deps
from backend.web.admin import bp
from backend.web.admin.objects import KINDS

AUDIT_PAGE_SIZE = 50
RECENT_CHANGES = 5


@dataclass(frozen=True)
class NavItem:
    """A section of the admin; a new area of the product adds one to ADMIN_NAV."""

    label: str
    endpoint: str
    values: dict[str, Any] = field(default_factory=dict)


ADMIN_NAV: list[NavItem] = [
    NavItem("Dashboard", "admin.dashboard"),
    *(NavItem(kind.plural, "admin.object_list", {"slug": kind.slug}) for kind in KINDS.values()),
    NavItem("Runs", "admin.runs_list"),
    NavItem("Outbox", "admin.outbox"),
    NavItem("Visitors", "admin.visitors"),
    NavItem("Mail", "admin.mail_list"),
    NavItem("Rights requests", "admin.rights_list"),
    NavItem("API tokens", "admin.api_tokens"),
    NavItem("Audit log", "admin.audit_log"),
]


@bp.context_processor
def navigation() -> dict[str, Any]:
    items = []
    for item in ADMIN_NAV:
        url = url_for(item.endpoint, **item.values)
        # The dashboard's URL prefixes every other one, so it is current only on itself.
        current = (
            request.path == url
            if item.endpoint == "admin.dashboard"
            else (request.path.startswith(url))
        )
        items.append({"label": item.label, "url": url, "current": current})
    return {"admin_nav": items}


@dataclass(frozen=True)
class Tool:
    """An operations page the dashboard links to."""

    label: str
    endpoint: str
    description: str


DASHBOARD_TOOLS: list[Tool] = [
    Tool("Sync runs", "admin.runs_list", "run history, live progress and error reports"),
    Tool("Outbox", "admin.outbox", "what waits for Braze, dead letters and replay"),
    Tool("Visitors", "admin.visitors", "a person's choices, sync status and consent ledger"),
    Tool("Mail outbox", "admin.mail_list", "mail Optline sent or, without SMTP, only shows here"),
    Tool("Rights requests", "admin.rights_list", "access and erasure requests and their status"),
]


@dataclass(frozen=True)
class CursorPage:
    """Rows newest first; ``older`` is the ``before`` argument of the next page, if any."""

    items: list[dict[str, Any]]
    older: int | None
    is_first: bool


def cursor_page(fetch: Callable[..., list[dict[str, Any]]], per_page: int) -> CursorPage:
    """Call ``fetch(limit=, before_id=)`` for the page the ``before`` query argument names."""
    raw = request.args.get("before", "")
    before = int(raw) if raw.isdigit() and 0 < len(raw) < 19 else None
    rows = fetch(limit=per_page + 1, before_id=before)
    items = [
        {**row, "at": datetime.fromisoformat(row["at"])} if isinstance(row.get("at"), str) else row
        for row in rows[:per_page]
    ]
    older = items[-1]["id"] if len(rows) > per_page else None
    return CursorPage(items=items, older=older, is_first=before is None)


@bp.get("/")
def dashboard() -> str:
    deps = current_deps()
    counts = [(kind, len(configuration.list_objects(deps, kind.kind))) for kind in KINDS.values()]
    tokens = [t for t in list_api_tokens(deps) if t.active]
    recent = cursor_page(partial(configuration.list_audit_entries, deps), RECENT_CHANGES)
    return render_template(
        "admin/dashboard.html",
        counts=counts,
        active_tokens=len(tokens),
        recent=recent.items,
        charts=consent_charts(deps),
        outbox=outbox_health(deps),
        tools=[
            {"label": t.label, "url": url_for(t.endpoint), "description": t.description}
            for t in DASHBOARD_TOOLS
        ],
    )


@bp.get("/audit")
def audit_log() -> str:
    entries = cursor_page(
        partial(configuration.list_audit_entries, current_deps()), AUDIT_PAGE_SIZE
    )
    return render_template("admin/audit.html", entries=entries)


@bp.errorhandler(IntegrationError)
def braze_unavailable(exc: IntegrationError) -> tuple[str, int]:
    message = f"Braze could not be reached or refused the request: {exc}"
    return render_template("admin/error.html", title="Braze error", message=message), 502
