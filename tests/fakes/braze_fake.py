"""A Braze fake served over HTTP on loopback, so tests exercise the real client end to end.

It enforces what Braze enforces before an endpoint runs (bearer key, per-endpoint permission,
rate-limit buckets with their headers, Content-Type, JSON syntax, unknown paths) and lets tests
script failures. Endpoint behaviour lives in ``braze_fake_handlers`` / ``braze_fake_track``;
workspace state and look-ups in ``braze_fake_state``. Usage::

    with BrazeFake() as fake:
        client = BrazeClient(rest_endpoint=fake.url, api_key=fake.api_key)
"""

from __future__ import annotations

import copy
import io
import json
import math
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any, NamedTuple

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.fakes.braze_fake_handlers import ROUTES, Call, Reject
from tests.fakes.braze_fake_state import FakeWorkspace, iso

DEFAULT_KEY = "test-key"
PARSE_ERROR = "Error while parsing request body. Please check your syntax."
EXPORT_PATH = "/_fake/segment-exports/"
# Default buckets (braze_api.md §0.5): name -> (requests, window seconds).
DEFAULT_BUCKETS: dict[str, tuple[int, float]] = {
    "users.track": (3000, 3.0),
    "subscription.status.set": (5000, 60.0),
    "users.export.ids": (250, 60.0),
    "users.identity": (20000, 60.0),  # /users/delete, /users/alias/new (shared)
    "default": (250000, 3600.0),  # every other endpoint, shared
}
# Flags in braze_examples/*.json "expect_with_flags": fake attribute -> value for each reading.
FLAGS: dict[str, tuple[str, Any]] = {
    "--allow-mixed-delete": ("allow_mixed_delete", True),
    "--allow-multiple-export-identifiers": ("allow_multiple_export_identifiers", True),
    "--sub-user-status-shape=docs": ("subscription_user_status_shape", "docs"),
}


@dataclass(frozen=True)
class Fault:
    """One scripted answer: wait ``delay`` seconds, then answer ``status`` (None = carry on)."""

    status: int | None = None
    delay: float = 0.0
    body: dict[str, Any] | None = None
    reset_in: float | None = None  # 429: X-RateLimit-Reset = now + reset_in, and Retry-After
    headers: dict[str, str] = field(default_factory=dict)
    rate_headers: bool = True  # False: omit X-RateLimit-* (MAU-contract 429s)


class RecordedRequest(NamedTuple):
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int


class _Bucket:
    """A fixed window that starts with its first request."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.started: float | None = None
        self.used = 0

    def _roll(self, now: float) -> None:
        if self.started is None or now >= self.started + self.window:
            self.started, self.used = now, 0

    def take(self, now: float) -> bool:
        self._roll(now)
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def ends_at(self, now: float) -> float:
        self._roll(now)
        assert self.started is not None
        return self.started + self.window

    def headers(self, now: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - self.used)),
            "X-RateLimit-Reset": str(math.ceil(self.ends_at(now))),
        }


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        """Keep test output clean; the fake records requests itself."""


def _reply(status: int, body: dict[str, Any], headers: dict[str, str]) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


class BrazeFake(FakeWorkspace):
    """Start with ``.start()`` or ``with``; control with the ``add_*``/``script`` methods; inspect
    with ``requests``, ``users``, ``group_state`` and friends. Thread-safe."""

    api_key = DEFAULT_KEY

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        # Bumped by reset(): a request still sleeping in a Fault(delay=...) from an earlier test
        # must neither touch the new state nor show up in the new request log.
        self._generation = 0
        super().__init__(clock)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._reset_controls()

    def _reset_controls(self) -> None:
        self._keys: dict[str, frozenset[str] | str] = {DEFAULT_KEY: "*"}
        self._buckets = {name: _Bucket(*spec) for name, spec in DEFAULT_BUCKETS.items()}
        self._faults: dict[str, deque[Fault]] = {}
        self._fail_all: dict[str, int] = {}
        self._requests: list[RecordedRequest] = []

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> BrazeFake:
        if self._server is None:
            server = make_server(
                "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
            )
            self._server = server
            self.base_url = f"http://127.0.0.1:{server.server_port}"
            self._thread = threading.Thread(
                target=server.serve_forever, name="braze-fake", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> BrazeFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if not self.base_url:
            raise RuntimeError("BrazeFake is not started")
        return self.base_url

    def reset(self) -> None:
        """Back to a fresh workspace and default keys/limits; keeps the server and the hook."""
        with self.lock:
            self._generation += 1
            self.reset_workspace()
            self._reset_controls()

    # -- controls ------------------------------------------------------------------------------

    def add_key(self, key: str, permissions: Iterable[str] | str = "*") -> None:
        """Register a REST key; ``"*"`` grants every permission."""
        with self.lock:
            self._keys[key] = (
                permissions if isinstance(permissions, str) else frozenset(permissions)
            )

    def add_subscription_group(
        self, group_id: str, channel: str = "email", name: str | None = None
    ) -> None:
        with self.lock:
            self.declare_group(group_id, channel, name)

    def add_segment(
        self, segment_id: str, name: str, member_external_ids: Iterable[str] = ()
    ) -> None:
        with self.lock:
            self.declare_segment(segment_id, name, member_external_ids)

    def add_user(
        self,
        external_id: str | None = None,
        *,
        attributes: dict[str, Any] | None = None,
        aliases: Iterable[dict[str, str]] = (),
        subscription_groups: dict[str, str] | None = None,
    ) -> str:
        """Seed a profile directly (no request recorded); returns its braze_id."""
        with self.lock:
            user = self.new_user(external_id)
            user["attributes"].update(copy.deepcopy(attributes or {}))
            user["user_aliases"].extend(dict(a) for a in aliases)
            user["subscription_groups"].update(subscription_groups or {})
            self.note_contact(user)
            return str(user["braze_id"])

    def add_unsubscribe(self, email: str, at: datetime | float | None = None) -> None:
        """Seed /email/unsubscribes (e.g. to test paging)."""
        with self.lock:
            ts = at.timestamp() if isinstance(at, datetime) else at
            self.set_email_state(email, "unsubscribed", ts)
            if ts is not None:
                self._unsubscribed[email] = iso(ts)

    def set_rate_limit(self, bucket: str, limit: int, window_seconds: float) -> None:
        """Scale a bucket down for tests; names are the keys of DEFAULT_BUCKETS."""
        with self.lock:
            if bucket not in self._buckets:
                raise KeyError(f"unknown bucket {bucket!r}; one of {sorted(self._buckets)}")
            self._buckets[bucket] = _Bucket(limit, window_seconds)

    def script(self, path: str, faults: Iterable[Fault]) -> None:
        """Queue faults for a path; each matching request consumes one before normal handling."""
        with self.lock:
            self._faults.setdefault(path, deque()).extend(faults)

    def fail_all(self, path: str, status: int) -> None:
        with self.lock:
            self._fail_all[path] = status

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._fail_all.clear()

    def configure_flag(self, flag: str) -> None:
        """Switch to a documented alternative reading (see FLAGS); unknown flags fail loudly."""
        attribute, value = FLAGS[flag]
        with self.lock:
            setattr(self, attribute, value)

    # -- inspection ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    @property
    def users(self) -> dict[str, dict[str, Any]]:
        """Copies of every profile, keyed by braze_id."""
        with self.lock:
            return copy.deepcopy(self._users)

    def user(
        self,
        external_id: str | None = None,
        *,
        email: str | None = None,
        alias: tuple[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """A copy of one profile found the way Braze would find it, or None."""
        with self.lock:
            if external_id is not None:
                found = self.find_external_id(external_id)
            elif email is not None:
                found = self.pick_by("email", email)
            elif alias is not None:
                found = self.find_alias(*alias)
            else:
                raise ValueError("give external_id, email or alias")
            return copy.deepcopy(found)

    def group_state(
        self,
        group_id: str,
        external_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> str | None:
        """State of one identifier in a group: "subscribed", "unsubscribed" or None (never set)."""
        with self.lock:
            return self.lookup_group_state(group_id, external_id, email, phone)

    @property
    def unsubscribed_emails(self) -> dict[str, str]:
        """Email -> ISO time of unsubscribing, as /email/unsubscribes reports them."""
        with self.lock:
            return dict(self._unsubscribed)

    @property
    def blocklisted_emails(self) -> set[str]:
        with self.lock:
            return set(self._blocklisted)

    @property
    def segment_exports(self) -> list[dict[str, Any]]:
        """Every accepted /users/export/segment: segment_id, object_prefix, body, users, at."""
        with self.lock:
            return copy.deepcopy(self._segment_exports)

    def export_users(
        self,
        segment_id: str,
        fields_to_export: Iterable[str] | None = None,
        custom_attributes_to_export: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Export objects of a segment's members: what an export file holds, one per line."""
        with self.lock:
            return self.export_segment_users(
                segment_id, fields_to_export, custom_attributes_to_export
            )

    # -- HTTP ----------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        raw = request.get_data(cache=True)
        try:
            recorded_body: Any = json.loads(raw) if raw else None
        except ValueError:
            recorded_body = raw.decode("utf-8", "replace")
        generation = self._generation
        response = self._respond(request, raw, generation)
        with self.lock:
            if generation != self._generation:
                return response(environ, start_response)
            self._requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    request.args.to_dict(flat=False),
                    recorded_body,
                    response.status_code,
                )
            )
        return response(environ, start_response)

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            queue = self._faults.get(path)
            if queue:
                return queue.popleft()
            if path in self._fail_all:
                return Fault(status=self._fail_all[path])
            return None

    def _fault_reply(self, fault: Fault, path: str) -> Response:
        assert fault.status is not None
        route = next((r for (_, p), r in ROUTES.items() if p == path), None)
        with self.lock:
            now = self.clock()
            bucket = self._buckets[route.bucket if route else "default"]
            headers = bucket.headers(now) if fault.rate_headers else {}
            if fault.status == 429:
                ends = now + fault.reset_in if fault.reset_in is not None else bucket.ends_at(now)
                if fault.rate_headers:
                    headers |= {
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": str(math.ceil(ends)),
                    }
                headers["Retry-After"] = str(max(0, math.ceil(ends - now)))
        body = (
            fault.body if fault.body is not None else {"message": HTTPStatus(fault.status).phrase}
        )
        return _reply(fault.status, body, headers | fault.headers)

    def _respond(self, request: Request, raw: bytes, generation: int) -> Response:
        method, path = request.method, request.path
        if method == "GET" and path.startswith(EXPORT_PATH):
            return self._serve_export(path[len(EXPORT_PATH) :].removesuffix(".zip"))
        fault = self._take_fault(path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
                if generation != self._generation:  # reset while we slept: the caller is gone
                    return _reply(503, {"message": "fake was reset"}, {})
            if fault.status is not None:
                return self._fault_reply(fault, path)
        route = ROUTES.get((method, path))
        with self.lock:
            now = self.clock()
            bucket = self._buckets[route.bucket if route else "default"]
            if route is None:
                return _reply(404, {"message": "Not Found"}, bucket.headers(now))
            auth = request.headers.get("Authorization", "")
            key = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
            granted = self._keys.get(key) if key is not None else None
            if granted is None:
                return _reply(401, {"message": "Invalid API Key"}, bucket.headers(now))
            if granted != "*" and route.permission not in granted:
                return _reply(403, {"message": "Access Denied"}, bucket.headers(now))
            if not bucket.take(now):
                ends = bucket.ends_at(now)
                headers = bucket.headers(now) | {"Retry-After": str(math.ceil(ends - now))}
                return _reply(429, {"message": "API rate limit exceeded"}, headers)
            headers = bucket.headers(now)
            body: Any = None
            if method == "POST":
                if request.mimetype != "application/json":
                    return _reply(415, {"message": "Unsupported Media Type"}, headers)
                try:
                    body = json.loads(raw)
                except ValueError:
                    return _reply(400, {"message": PARSE_ERROR}, headers)
            call = Call(method, path, request.args, body)
            try:
                status, answer = route.handler(self, call)
            except Reject as exc:
                return _reply(exc.status, exc.body, headers)
        for after in call.after:
            try:
                after()
            except Exception as exc:  # noqa: BLE001 - a broken test hook must show up as a 500
                return _reply(500, {"message": f"fake hook failed: {exc!r}"}, headers)
        return _reply(status, answer, headers)

    def _serve_export(self, prefix: str) -> Response:
        """The download URL Braze returns when no bucket is configured: one ZIP of JSON lines."""
        with self.lock:
            export = self.find_segment_export(prefix)
            users = copy.deepcopy(export["users"]) if export else None
        if users is None:
            return _reply(404, {"message": "Not Found"}, {})
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            lines = "".join(json.dumps(u) + "\n" for u in users)
            archive.writestr(f"{uuid.uuid4().hex}.txt", lines)
        return Response(buffer.getvalue(), mimetype="application/zip")
