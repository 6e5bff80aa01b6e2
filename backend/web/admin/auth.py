"""Session login for the settings page: every admin page but the login form needs an admin."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers.response import Response

from backend.domain.errors import AuthError, NotFoundError
from backend.services.admin_auth import authenticate_admin
from backend.services.admin_views import AdminIdentity, load_active_admin
from backend.web import current_deps
from backend.web.admin import bp
from backend.web.admin.forms import LoginForm
from backend.web.errors import retry_after_seconds
from backend.web.security import limiter

SESSION_USER = "admin_user_id"
PUBLIC_ENDPOINTS = {"admin.login"}
# Failed sign-ins allowed per client address; successful ones do not count.
LOGIN_LIMIT = "10/minute"


def safe_next(target: str | None) -> str | None:
    """Accept only a relative path inside the admin, so ``next`` can never leave the site."""
    if not target or any(ch in target for ch in "\\\r\n\t") or not target.startswith("/admin"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def current_admin() -> AdminIdentity:
    admin: AdminIdentity = g.admin
    return admin


def actor() -> str:
    """How the audit log names the signed-in admin."""
    return f"admin:{current_admin().email}"


@bp.before_request
def require_login() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    user_id = session.get(SESSION_USER)
    admin = load_active_admin(current_deps(), user_id) if isinstance(user_id, int) else None
    if admin is None:
        session.pop(SESSION_USER, None)
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("admin.login", next=safe_next(target)))
    g.admin = admin
    return None


def _failed_login(response: Response) -> bool:
    return response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"], deduct_when=_failed_login)
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    error: str | None = None
    if form.validate_on_submit():
        try:
            user_id = authenticate_admin(current_deps(), form.email.data, form.password.data)
        except AuthError:
            error = "Wrong email or password."
        else:
            session.clear()  # a fresh session (and CSRF token) for the signed-in admin
            session[SESSION_USER] = user_id
            return redirect(safe_next(form.next.data) or url_for("admin.dashboard"))
    return render_template("admin/login.html", form=form, error=error)


@bp.post("/logout")
def logout() -> Response:
    session.clear()  # CSRF was checked app-wide before the view ran
    flash("You are signed out.", "info")
    return redirect(url_for("admin.login"))


@bp.errorhandler(TooManyRequests)
def too_many_requests(exc: TooManyRequests) -> tuple[str, int, dict[str, str]]:
    message = "Too many sign-in attempts from your address. Wait a minute, then try again."
    html = render_template("admin/error.html", title="Too many attempts", message=message)
    return html, 429, {"Retry-After": str(retry_after_seconds())}


@bp.errorhandler(CSRFError)
def csrf_refused(exc: CSRFError) -> tuple[str, int]:
    message = (
        "The form could not be accepted because its security token is missing or expired. "
        "Go back, reload the page and submit it again."
    )
    return render_template("admin/error.html", title="Form expired", message=message), 400


@bp.errorhandler(NotFoundError)
def not_found(exc: NotFoundError) -> tuple[str, int]:
    return render_template("admin/error.html", title="Not found", message=str(exc)), 404
