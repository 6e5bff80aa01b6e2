"""Braze connection tools: the permission check and the sandbox request log."""

from __future__ import annotations

import json
from functools import partial

from flask import render_template

from backend.domain.errors import ConflictError
from backend.services import configuration
from backend.web import current_deps
from backend.web.admin import bp
from backend.web.admin.views import cursor_page

REQUESTS_PAGE_SIZE = 25


@bp.post("/braze-connections/<code>/test")
def connection_test(code: str) -> str:
    deps = current_deps()
    connection = configuration.get_object(deps, "braze_connections", code)
    try:
        checks = configuration.test_braze_connection(deps, code)
        error = None
    except ConflictError as exc:
        checks, error = [], str(exc)
    return render_template(
        "admin/connection_test.html", connection=connection, checks=checks, error=error
    )


@bp.get("/braze-connections/<code>/requests")
def connection_requests(code: str) -> str:
    deps = current_deps()
    connection = configuration.get_object(deps, "braze_connections", code)
    records = cursor_page(
        partial(configuration.list_sandbox_requests, deps, code), REQUESTS_PAGE_SIZE
    )
    for record in records.items:
        body = record.get("body")
        record["body_json"] = (
            "" if body is None else json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True)
        )
    return render_template("admin/sandbox_requests.html", connection=connection, records=records)
