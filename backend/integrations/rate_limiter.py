"""Token buckets per Braze workspace: in Redis (one atomic Lua script) or in process.

Every worker sending to one workspace shares its bucket in Redis, so together they stay within the
workspace's budget. The Lua script does exactly what ``backend.domain.rate_budget.take`` does.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any, Protocol

from backend.domain.rate_budget import BucketSpec, BucketState, take

log = logging.getLogger(__name__)

KEY_PREFIX = "optline:bucket:"
KEY_TTL_SECONDS = 3600

# KEYS[1] bucket; ARGV: capacity, refill per second, now, cost, ceiling ("" = none), ttl.
TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1])
local ts = tonumber(data[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate)
  ts = now
end
if ARGV[5] ~= '' then
  tokens = math.min(tokens, tonumber(ARGV[5]))
end
tokens = tokens - cost
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'ts', string.format('%.17g', ts))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
local wait = 0
if tokens < 0 then
  wait = -tokens / rate
end
return string.format('%.17g', wait)
"""


def workspace_key(rest_endpoint: str, api_key: str) -> str:
    """One bucket per Braze workspace: its endpoint and key, hashed so no key reaches Redis."""
    digest = hashlib.sha256(f"{rest_endpoint.rstrip('/')}\0{api_key}".encode()).hexdigest()
    return digest[:24]


class TokenBuckets(Protocol):
    def take(
        self,
        name: str,
        spec: BucketSpec,
        now: float,
        cost: float = 1.0,
        ceiling: float | None = None,
    ) -> float:
        """Take ``cost`` tokens from bucket ``name``; return seconds to wait (0: go now)."""


class RedisTokenBuckets:
    """Buckets shared by every process through Redis."""

    def __init__(self, redis_conn: Any) -> None:
        self._redis = redis_conn
        self._script = redis_conn.register_script(TAKE_SCRIPT)

    def take(
        self,
        name: str,
        spec: BucketSpec,
        now: float,
        cost: float = 1.0,
        ceiling: float | None = None,
    ) -> float:
        args = [
            repr(spec.capacity),
            repr(spec.refill_per_second),
            repr(now),
            repr(cost),
            "" if ceiling is None else repr(ceiling),
            KEY_TTL_SECONDS,
        ]
        raw = self._script(keys=[KEY_PREFIX + name], args=args)
        return float(raw.decode() if isinstance(raw, bytes) else raw)


class LocalTokenBuckets:
    """Buckets for one process (no Redis configured): the same math, behind a lock."""

    def __init__(self) -> None:
        self._states: dict[str, BucketState] = {}
        self._lock = threading.Lock()

    def take(
        self,
        name: str,
        spec: BucketSpec,
        now: float,
        cost: float = 1.0,
        ceiling: float | None = None,
    ) -> float:
        with self._lock:
            state, wait = take(self._states.get(name), now, spec, cost, ceiling)
            self._states[name] = state
            return wait


_LOCAL = LocalTokenBuckets()


class FailOpenTokenBuckets:
    """Redis buckets that fall back to in-process ones while Redis is unreachable."""

    def __init__(self, primary: TokenBuckets, fallback: TokenBuckets) -> None:
        self._primary, self._fallback = primary, fallback

    def take(
        self,
        name: str,
        spec: BucketSpec,
        now: float,
        cost: float = 1.0,
        ceiling: float | None = None,
    ) -> float:
        try:
            return self._primary.take(name, spec, now, cost, ceiling)
        except Exception:  # noqa: BLE001 - Braze's own 429s still protect us
            log.warning("rate-limit bucket unavailable in Redis; using the local one")
            return self._fallback.take(name, spec, now, cost, ceiling)


def token_buckets(redis_conn: Any | None) -> TokenBuckets:
    if redis_conn is None:
        return _LOCAL
    return FailOpenTokenBuckets(RedisTokenBuckets(redis_conn), _LOCAL)
