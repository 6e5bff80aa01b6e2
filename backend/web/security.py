"""Security headers, CSRF for forms, rate limiting, and the admin API bearer check."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from backend.domain.errors import AuthError

csrf = CSRFProtect()
# Headers are added by our own 429 handler only: Flask-Limiter's injection would put a
# Retry-After on every successful response and overwrite the one a view sets itself.
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)

F = TypeVar("F", bound=Callable[..., Any])

ADMIN_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions (the admin's), without building a signer for a request
    that carries no session cookie: every widget API call, cross-origin and cookie-less."""

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = CookieSessions()
    csrf.init_app(app)
    deps = app.extensions["optline.deps"]
    settings = app.extensions["optline.settings"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", limiter_storage_uri(settings.redis_url))
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    if deps.redis is not None and not settings.redis_url:
        # A test or embedded Redis object without a URL: share its connection pool.
        app.config["RATELIMIT_STORAGE_URI"] = "memory://"
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)  # Redis down must not stop saves
    limiter.init_app(app)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if request.path.startswith("/admin") or request.path == "/":
            response.headers.setdefault("Content-Security-Policy", ADMIN_CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
            if settings.is_production:
                response.headers.setdefault(
                    "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
                )
        return response


def drop_idle_limit_hook(app: Flask, extension: Limiter = limiter) -> bool:
    """Take Flask-Limiter's app-wide before_request hook out when it has nothing to check.

    Every limit of Optline is declared on its view, where Flask-Limiter checks it in the view's
    wrapper, or counted by the view itself (``widget_api.limits.check``). The hook exists for
    default, application-wide and blueprint limits; with none of them it finds nothing, at a
    cost on every request. Called once every blueprint is registered; True when taken out."""
    manager = extension.limit_manager
    if manager.default_limits or manager.application_limits or manager._blueprint_limits:
        return False
    app.before_request_funcs[None].remove(extension._check_request_limit)
    return True


def limiter_storage_uri(redis_url: str) -> str:
    """Flask-Limiter names Redis over a unix socket ``redis+unix://``; RQ and redis-py ``unix://``."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url


def require_api_token(view: F) -> F:
    """Admin API views: a valid ``Authorization: Bearer`` token or 401."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from backend.services.admin_auth import verify_api_token

        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("missing bearer token")
        g.api_actor = "api:" + verify_api_token(
            current_app.extensions["optline.deps"], token.strip()
        )
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
