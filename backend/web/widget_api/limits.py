"""Rate-limit keys and values for the public endpoints (Flask-Limiter, Redis in production)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from flask import Response, request
from flask_limiter.util import get_remote_address
from limits import parse
from limits.storage import RedisStorage

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


# The few limit strings above, parsed once (``parse`` runs regular expressions every call).
_parsed = lru_cache(maxsize=32)(parse)


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


# Moving windows (a list of hit times per key, newest first, as Flask-Limiter's own
# "moving-window" strategy keeps them), checked and counted together in one round trip: a
# request is counted by every limit or, when one refuses it, by none.
# KEYS: one list per limit. ARGV: now, then (limit, window seconds) for each key.
# Returns {0, 0} when allowed, else {index of the refusing key, seconds until it has room}.
ACQUIRE_ALL = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local entry = redis.call('lindex', key, limit - 1)
  if entry and tonumber(entry) > now - window then
    return {i, math.ceil(tonumber(entry) + window - now)}
  end
end
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('lpush', key, ARGV[1])
  redis.call('ltrim', key, 0, limit - 1)
  redis.call('expire', key, window)
end
return {0, 0}
"""


@lru_cache(maxsize=8)
def _acquire_script(client: Any) -> Any:
    """The script, registered once per Redis client (as ``integrations.rate_limiter`` does):
    registering encodes and hashes its text; calls run it by EVALSHA."""
    return client.register_script(ACQUIRE_ALL)


def acquire_all(client: Any, limits: Sequence[tuple[str, str]], now: float) -> int:
    """Count one hit against every (limit, key) pair in Redis at once, or none; 0 when allowed,
    else the seconds until the refusing limit has room."""
    script = _acquire_script(client)
    args: list[Any] = [repr(now)]
    keys: list[str] = []
    for value, key in limits:
        item = _parsed(value)
        keys.append(f"optline-limits/{key}/{item.amount}/{item.get_expiry()}")
        args += [item.amount, item.get_expiry()]
    refused, retry_after = script(keys=keys, args=args)
    return max(1, int(retry_after)) if int(refused) else 0


def check(*limits: tuple[str, str]) -> Response | None:
    """Count this request against (limit, key) pairs in the limiter's storage; a 429 when one is
    spent. With Redis (every deployment) the pairs are checked in one script call; the memory
    storage of tests counts them one by one. Used where the view's own ``Retry-After`` must
    survive (decorated limits overwrite it with their window's reset), and where one request
    meets several limits (one Redis call instead of one per limit)."""
    if not limiter.enabled:
        return None
    storage = limiter.limiter.storage
    try:
        if isinstance(storage, RedisStorage):
            retry_after = acquire_all(storage.storage, limits, time.time())
        else:
            retry_after = _hit_each(limits)
    except Exception:  # noqa: BLE001 - storage down: fail open, like the decorated limits
        log.warning("rate-limit storage unavailable")
        return None
    if not retry_after:
        return None
    return error_response(
        429,
        "too_many_requests",
        f"too many requests; try again in {retry_after} seconds",
        {"retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def _hit_each(limits: Sequence[tuple[str, str]]) -> int:
    for value, key in limits:
        item = _parsed(value)
        allowed = limiter.limiter.hit(item, "widget_api", key)
        if not allowed:
            reset = limiter.limiter.get_window_stats(item, "widget_api", key).reset_time
            return max(1, int(reset - time.time() + 0.999))
    return 0


def widget_limits() -> Response | None:
    """The bootstrap and save limits, each endpoint its own: per client address and per visitor
    token."""
    scope = f"widget-{request.endpoint}-"
    return check((WIDGET_PER_IP, scope + ip_key()), (WIDGET_PER_TOKEN, scope + token_key()))
