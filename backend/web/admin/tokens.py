"""Admin API tokens: list, create (the token is shown once, on the answer to the POST), revoke."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from backend.domain.errors import ConflictError, NotFoundError, ValidationError
from backend.services.api_tokens import issue_api_token, list_api_tokens, revoke_api_token
from backend.web import current_deps
from backend.web.admin import bp
from backend.web.admin.auth import actor, current_admin
from backend.web.admin.forms import ApiTokenForm, RevokeTokenForm


def _page(form: ApiTokenForm, new_token: str | None = None, status: int = 200) -> Any:
    html = render_template(
        "admin/api_tokens.html",
        form=form,
        tokens=list_api_tokens(current_deps()),
        new_token=new_token,
    )
    # A page that may carry a new token must not be kept by any cache.
    return html, status, {"Cache-Control": "no-store"}


@bp.get("/api-tokens")
def api_tokens() -> Any:
    return _page(ApiTokenForm(formdata=None))


@bp.post("/api-tokens")
def api_token_create() -> Any:
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    try:
        token = issue_api_token(
            current_deps(), form.name.data, created_by=current_admin().id, actor=actor()
        )
    except (ValidationError, ConflictError) as exc:
        form.name.errors = [*form.name.errors, str(exc)]
        form.summary_errors.append((str(exc), form.name.id))
        return _page(form, status=422)
    flash(
        f"API token {form.name.data} created. Copy it now: it is shown only this once.", "success"
    )
    return _page(ApiTokenForm(formdata=None), new_token=token)


@bp.post("/api-tokens/revoke")
def api_token_revoke() -> Response:
    form = RevokeTokenForm()
    if form.validate_on_submit():
        try:
            revoke_api_token(current_deps(), form.name.data, actor=actor())
        except (NotFoundError, ConflictError) as exc:
            flash(str(exc), "error")
        else:
            flash(f"API token {form.name.data} revoked.", "success")
    return redirect(url_for("admin.api_tokens"))
