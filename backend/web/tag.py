"""GET /t/<property>.js: the tag, with the property's public configuration inside."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from jinja2.utils import htmlsafe_json_dumps

from backend.services.tag_config import load_tag_config
from backend.web import current_deps
from backend.web.security import limiter

log = logging.getLogger(__name__)

bp = Blueprint("tag", __name__)

# The built bundle (widget/build.mjs) holds this string literal exactly once, in the loader.
PLACEHOLDER = '"__OPTLINE_CONFIG__"'
BUNDLE = Path("js") / "optline.js"
JS = "application/javascript; charset=utf-8"
CACHE = "public, max-age=300"
MAX_CODE = 64


@dataclass(frozen=True)
class Bundle:
    head: str
    tail: str
    digest: str
    mtime_ns: int

    def render(self, config_json: str) -> str:
        return self.head + config_json + self.tail


class BundleCache:
    """The bundle, read once and again only when the file changes (a rebuild in development)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._bundle: Bundle | None = None
        self._lock = threading.Lock()

    def get(self) -> Bundle | None:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            return None
        bundle = self._bundle
        if bundle is not None and bundle.mtime_ns == mtime:
            return bundle
        with self._lock:
            text = self.path.read_text(encoding="utf-8")
            parts = text.split(PLACEHOLDER)
            if len(parts) != 2:
                log.error(
                    "tag bundle %s has %d config placeholders, expected 1",
                    self.path,
                    len(parts) - 1,
                )
                return None
            digest = hashlib.sha256(text.encode()).hexdigest()
            self._bundle = Bundle(parts[0], parts[1], digest, mtime)
            return self._bundle


@bp.record_once
def _load_bundle(state: BlueprintSetupState) -> None:
    static = Path(state.app.static_folder or "static")
    cache = BundleCache(static / BUNDLE)
    state.app.extensions["optline.tag_bundle"] = cache
    if cache.get() is None:
        log.error(
            "the tag bundle %s is missing or broken: run `npm --prefix widget run build`",
            static / BUNDLE,
        )


@bp.get("/t/<code>.js")
@limiter.limit("1200 per minute")
def tag(code: str) -> Response:
    """The loader and UI for one property; cacheable, and no CORS (it is a classic script)."""
    config = load_tag_config(current_deps(), code) if len(code) <= MAX_CODE else None
    if config is None:
        return _js("/* Optline: no property with this code. */\n", 404, "no-cache")
    bundle: Bundle | None = current_app.extensions["optline.tag_bundle"].get()
    if bundle is None:
        return _js("/* Optline: the tag is not built on this server. */\n", 503, "no-store")
    payload = str(htmlsafe_json_dumps(config.public, sort_keys=True, separators=(",", ":")))
    config_hash = hashlib.sha256(payload.encode()).hexdigest()[:10]
    response = _js(bundle.render(payload), 200, CACHE)
    # The bundle's hash plus the configuration's version (and hash: the public URL and the
    # built-in texts live outside the database) — a change to either is a new ETag.
    response.set_etag(f"{bundle.digest[:16]}-{config.config_version}-{config_hash}")
    # A host page that sets Cross-Origin-Embedder-Policy: require-corp may still load the tag.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.make_conditional(request)
    return response


def _js(body: str, status: int, cache: str) -> Response:
    response = Response(body, status=status)
    response.headers["Content-Type"] = JS
    response.headers["Cache-Control"] = cache
    return response
