"""A Braze client that records what it would send and answers like Braze: demos, `make dev`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import requests

from backend.integrations.braze import BrazeClient
from backend.integrations.braze_responses import BrazeResponse, RateLimit

Recorder = Callable[[str, str, dict[str, Any] | None, dict[str, Any] | None], None]


def _count(body: Mapping[str, Any] | None, key: str) -> int:
    value = (body or {}).get(key)
    if isinstance(value, list):
        return len(value)
    return 1 if value else 0


def answer_like_braze(
    method: str, path: str, body: Mapping[str, Any] | None, now: float
) -> dict[str, Any]:
    """A plausible success body for each endpoint, shaped as braze_api.md documents it."""
    if path == "/users/track":
        return {"message": "success"} | {
            f"{name}_processed": _count(body, name)
            for name in ("attributes", "events", "purchases")
            if name in (body or {})
        }
    if path == "/users/delete":
        kinds = ("external_ids", "user_aliases", "braze_ids", "email_addresses", "phone_numbers")
        return {"deleted": sum(_count(body, k) for k in kinds), "message": "success"}
    if path == "/users/alias/new":
        return {"aliases_processed": _count(body, "user_aliases"), "message": "success"}
    if path == "/users/export/ids":
        return {"message": "success", "users": []}
    if path == "/users/export/segment":
        return {"message": "success", "object_prefix": f"{uuid.uuid4()}-{int(now)}"}
    if path == "/subscription/status/get":
        return {"status": {}, "message": "success"}
    if path == "/subscription/user/status":
        return {"users": [], "total_count": 0, "message": "success"}
    if path == "/segments/list":
        return {"message": "success", "segments": []}
    if path == "/email/unsubscribes":
        return {"emails": [], "message": "success"}
    return {"message": "success"}


class SandboxBrazeClient(BrazeClient):
    """Same methods and checks as BrazeClient; ``_send`` hands the request to a recorder instead."""

    def __init__(
        self,
        recorder: Recorder,
        *,
        rest_endpoint: str = "https://rest.iad-01.braze.com",
        api_key: str = "sandbox",
        session: requests.Session | None = None,
        timeout: float = 10.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            rest_endpoint=rest_endpoint, api_key=api_key, session=session, timeout=timeout, now=now
        )
        self._recorder = recorder

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> BrazeResponse:
        """Record, never touch the network, and answer as Braze would on success."""
        body = dict(json) if json is not None else None
        query = dict(params) if params is not None else None
        self._recorder(method, path, body, query)
        rate = RateLimit()
        self.last_rate_limit = rate
        return BrazeResponse(
            status=201 if method == "POST" else 200,
            body=answer_like_braze(method, path, body, self._now()),
            rate=rate,
        )
