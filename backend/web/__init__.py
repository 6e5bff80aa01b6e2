"""HTTP surfaces: one blueprint per surface, thin views over services."""

from __future__ import annotations

from flask import Flask, current_app

from backend.services.deps import Deps


def current_deps() -> Deps:
    deps: Deps = current_app.extensions["optline.deps"]
    return deps


def register_web(app: Flask) -> None:
    from backend.web import errors, request_ids, security
    from backend.web.blueprints import BLUEPRINTS

    request_ids.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    security.drop_idle_limit_hook(app)
