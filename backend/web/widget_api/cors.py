"""CORS for the widget API: only a property's ``allowed_origins`` may call it from a browser.

A request with an ``Origin`` the property does not allow is refused (403) before any view runs,
so nothing is read or written. Requests without ``Origin`` (servers, apps) pass: browsers always
send it on cross-origin calls. Preflights name no property in their (empty) body, so one is
accepted when the property in the path allows the origin, or, on the PRODUCT 1.7 paths, when any
property does; the real request that follows is checked against its own property.

Optline's own origin (``OPTLINE_PUBLIC_URL``) may call the API for every property: the hosted
preference page (``/p/<property>``) is served from there. Browsers send the token in the body
with ``Content-Type: text/plain`` (a "simple" request, no preflight), so the Origin check here
is what stops a disallowed site, preflight or not.

Allowed origins are cached per process for a few seconds (one query for all properties).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from flask import Response, g, request

from backend.services.catalogue import normalise_origin, origins_by_property
from backend.web import current_deps
from backend.web.errors import error_response

CACHE_SECONDS = 5.0
MAX_AGE_SECONDS = 600
ALLOW_METHODS = "GET, POST"  # GET: a visitor reads their rights request
ALLOW_HEADERS = "Authorization, Content-Type"
CACHE_KEY = "widget_api.origins"


def _origins(refresh: bool = False) -> dict[str, frozenset[str]]:
    deps = current_deps()
    cached: tuple[float, dict[str, frozenset[str]]] | None = deps.extras.get(CACHE_KEY)
    now = time.monotonic()
    if cached is None or refresh or now - cached[0] > CACHE_SECONDS:
        with deps.session() as session:
            cached = (now, origins_by_property(session))
        deps.extras[CACHE_KEY] = cached
    return cached[1]


def _own_origin() -> str:
    """The origin of OPTLINE_PUBLIC_URL, where the hosted page lives."""
    parts = urlsplit(current_deps().settings.public_url)
    return normalise_origin(f"{parts.scheme}://{parts.netloc}")


def _allowed_for(code: str, origin: str) -> bool | None:
    """True/False for a known property; None when the property does not exist."""
    origins = _origins()
    if code not in origins:
        origins = _origins(refresh=True)
    if code not in origins:
        return None
    wanted = normalise_origin(origin)
    return wanted in origins[code] or wanted == _own_origin()


def _allowed_anywhere(origin: str) -> bool:
    wanted = normalise_origin(origin)
    return wanted == _own_origin() or any(wanted in allowed for allowed in _origins().values())


def _body_property() -> str | None:
    body: Any = request.get_json(force=True, silent=True)
    value = body.get("property") if isinstance(body, dict) else None
    if value is None and request.method == "GET":
        value = request.args.get("property")  # GET reads name the property in the query
    return value if isinstance(value, str) else None


def _refused(origin: str) -> Response:
    response = error_response(
        403, "origin_not_allowed", "this origin may not call the widget API for this property"
    )
    response.headers["Vary"] = "Origin"
    return response


def gate() -> Response | None:
    """before_request: answer preflights, refuse disallowed origins, remember allowed ones."""
    origin = request.headers.get("Origin")
    path_property = (request.view_args or {}).get("property_code")
    if request.method == "OPTIONS":
        if not origin:
            return _refused("")
        ok = (
            _allowed_for(path_property, origin)
            if isinstance(path_property, str)
            else _allowed_anywhere(origin)
        )
        if not ok:
            return _refused(origin)
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = str(MAX_AGE_SECONDS)
        g.cors_origin = origin
        return response
    if not origin:
        return None
    code = path_property if isinstance(path_property, str) else _body_property()
    if code is None:
        return None  # the view answers 400; a browser cannot read it, which is fine
    allowed = _allowed_for(code, origin)
    if allowed is False:
        return _refused(origin)
    if allowed:
        g.cors_origin = origin
    return None


def decorate(response: Response) -> Response:
    """after_request: the CORS headers for an allowed origin; ``Vary: Origin`` always."""
    origin = g.get("cors_origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    response.vary.add("Origin")
    return response
