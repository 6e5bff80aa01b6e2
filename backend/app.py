"""The Flask application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from backend.services.deps import Deps
from backend.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None, deps: Deps | None = None) -> Flask:
    """Build the app; settings are read here, once, unless a test passes its own."""
    if settings is None:
        settings = Settings.from_env()
    if deps is None:
        from backend.wiring import build_deps

        deps = build_deps(settings)
    app = Flask(
        "optline",
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        static_url_path="/static",
        instance_path=str(settings.instance_path),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        SESSION_COOKIE_NAME="optline_admin",
        WTF_CSRF_TIME_LIMIT=None,
        # Bodies above 256 KB are refused before any view runs (the ingest API has its own cap).
        MAX_CONTENT_LENGTH=256 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.extensions["optline.deps"] = deps
    app.extensions["optline.settings"] = settings

    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Client addresses (rate limits) and https (secure cookies) come from the proxy's headers.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    from backend.web import register_web

    register_web(app)
    return app
