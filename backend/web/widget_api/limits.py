"""Rate-limit keys and values for the public endpoints (Flask-Limiter, Redis in production)."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from flask import Response, request
from flask_limiter.util import get_remote_address
from limits import parse

from backend.services.widget_identity import request_token
from backend.web.errors import error_response
from backend.web.security import limiter

log = logging.getLogger(__name__)

# Generous for reads and saves; strict where a guess could pay off (codes).
WIDGET_PER_IP = "120/minute"
WIDGET_PER_TOKEN = "120/minute"  # noqa: S105 - a rate, not a secret
CODES_PER_EMAIL = "5/hour"
CODES_PER_IP = "20/hour"
VERIFY_PER_IP = "10/10 minutes"
VERIFY_PER_EMAIL = "10/10 minutes"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:20]


def ip_key() -> str:
    return "ip:" + (get_remote_address() or "unknown")


def token_key() -> str:
    """Per visitor token (header or body); callers without one share their IP's key instead."""
    try:
        body: Any = request.get_json(force=True, silent=True)
    except Exception:  # noqa: BLE001 - an oversized body is refused by the view
        body = None
    token = request_token(request.headers.get("Authorization"), body)
    return "tok:" + _hash(token) if token else ip_key()


def email_key() -> str:
    """Per (property, email) of the body; a body without one falls back to the IP."""
    try:
        body: Any = request.get_json(force=True, silent=True)
    except Exception:  # noqa: BLE001 - an oversized body is refused by the view
        body = None
    if isinstance(body, dict) and isinstance(body.get("email"), str):
        return "email:" + _hash(f"{body.get('property')}\0{body['email'].strip().lower()}")
    return ip_key()


def check(*limits: tuple[str, str]) -> Response | None:
    """Count this request against (limit, key) pairs in the limiter's storage; a 429 when one is
    spent. Used where the view's own ``Retry-After`` must survive (decorated limits overwrite it
    with their window's reset)."""
    if not limiter.enabled:
        return None
    for value, key in limits:
        item = parse(value)
        try:
            allowed = limiter.limiter.hit(item, "widget_api", key)
            reset = limiter.limiter.get_window_stats(item, "widget_api", key).reset_time
        except Exception:  # noqa: BLE001 - storage down: fail open, like the decorated limits
            log.warning("rate-limit storage unavailable")
            return None
        if not allowed:
            retry_after = max(1, int(reset - time.time() + 0.999))
            return error_response(
                429,
                "too_many_requests",
                f"too many requests; try again in {retry_after} seconds",
                {"retry_after": retry_after},
                headers={"Retry-After": str(retry_after)},
            )
    return None
