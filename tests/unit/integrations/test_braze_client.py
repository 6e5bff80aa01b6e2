"""BrazeClient at the HTTP edge: headers sent and read, errors raised, batch limits kept.

A tiny scripted HTTP server on loopback plays Braze, so requests really goes over a socket.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from backend import __version__
from backend.domain.errors import PermanentError, RetryableError
from backend.integrations.braze import (
    USERS_TRACK_MAX_OBJECTS,
    BrazeClient,
    RateLimit,
    parse_rate_limit,
    to_item_errors,
)
from backend.integrations.braze_responses import to_user_group_statuses
from backend.integrations.braze_sandbox import SandboxBrazeClient

SECRET = "sk-SECRET-4b1d-never-log-me"
NOW = 1_700_000_000.0


@dataclass
class Canned:
    status: int = 201
    body: Any = field(default_factory=lambda: {"message": "success"})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class StubBraze:
    """Answers with queued Canned responses (default: 201 success) and records what it got."""

    def __init__(self) -> None:
        self.queue: list[Canned] = []
        self.seen: list[Seen] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                stub.seen.append(
                    Seen(
                        self.command,
                        parts.path,
                        parse_qs(parts.query),
                        dict(self.headers.items()),
                        json.loads(raw) if raw else None,
                    )
                )
                canned = stub.queue.pop(0) if stub.queue else Canned()
                if canned.delay:
                    time.sleep(canned.delay)
                payload = (
                    canned.body
                    if isinstance(canned.body, bytes)
                    else json.dumps(canned.body).encode()
                )
                try:
                    self.send_response(canned.status)
                    for name, value in canned.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout test)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, *canned: Canned) -> None:
        self.queue.extend(canned)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stub_server() -> Iterator[StubBraze]:
    server = StubBraze()
    yield server
    server.close()


@pytest.fixture
def stub(stub_server: StubBraze) -> StubBraze:
    stub_server.queue.clear()
    stub_server.seen.clear()
    return stub_server


@pytest.fixture
def client(stub: StubBraze) -> Iterator[BrazeClient]:
    with BrazeClient(rest_endpoint=stub.url, api_key=SECRET, timeout=2.0, now=lambda: NOW) as c:
        yield c


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- rate-limit headers --------------------------------------------------------------------------


def test_reset_as_epoch_seconds() -> None:
    rate = parse_rate_limit(
        {
            "X-RateLimit-Limit": "3000",
            "X-RateLimit-Remaining": "2999",
            "X-RateLimit-Reset": "1700000003",
        },
        NOW,
    )
    assert rate == RateLimit(limit=3000, remaining=2999, reset_at=1_700_000_003.0, retry_after=None)
    assert rate.wait_seconds(NOW) == pytest.approx(3.0)


def test_reset_as_seconds_from_now() -> None:
    rate = parse_rate_limit({"X-RateLimit-Reset": "42"}, NOW)
    assert rate.reset_at == pytest.approx(NOW + 42)


def test_lower_case_header_names_from_http2() -> None:
    rate = parse_rate_limit(
        {
            "x-ratelimit-limit": "10",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": "1700000060",
        },
        NOW,
    )
    assert (rate.limit, rate.remaining, rate.reset_at) == (10, 0, 1_700_000_060.0)


def test_braze_retry_after_wins_over_standard_and_reset() -> None:
    rate = parse_rate_limit(
        {"X-Ratelimit-Retry-After": "7", "Retry-After": "30", "X-RateLimit-Reset": "1700000100"},
        NOW,
    )
    assert rate.retry_after == 7.0
    assert rate.wait_seconds(NOW) == 7.0


def test_standard_retry_after_as_seconds_and_as_http_date() -> None:
    assert parse_rate_limit({"retry-after": "12"}, NOW).retry_after == 12.0
    when = format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True)
    assert parse_rate_limit({"Retry-After": when}, NOW).retry_after == pytest.approx(90)


def test_missing_or_garbage_headers_give_nothing() -> None:
    assert parse_rate_limit({}, NOW) == RateLimit()
    rate = parse_rate_limit({"X-RateLimit-Limit": "lots", "Retry-After": "soon-ish"}, NOW)
    assert rate == RateLimit()
    assert rate.wait_seconds(NOW) is None


def test_past_reset_means_no_wait() -> None:
    assert parse_rate_limit({"X-RateLimit-Reset": "1600000000"}, NOW).wait_seconds(NOW) == 0.0


# -- what the client sends -----------------------------------------------------------------------


def test_sends_bearer_json_user_agent_and_reads_rate_headers(
    stub: StubBraze, client: BrazeClient
) -> None:
    stub.answer(
        Canned(
            body={"message": "success", "attributes_processed": 1},
            headers={
                "x-ratelimit-limit": "3000",
                "x-ratelimit-remaining": "2998",
                "X-RateLimit-Reset": "5",
            },
        )
    )
    result = client.users_track(attributes=[{"external_id": "u1", "first_name": "Ann"}])
    assert result.processed == {"attributes": 1}
    assert result.errors == []
    seen = stub.seen[0]
    assert (seen.method, seen.path) == ("POST", "/users/track")
    assert seen.headers["Authorization"] == f"Bearer {SECRET}"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == f"optline/{__version__}"
    assert seen.body == {"attributes": [{"external_id": "u1", "first_name": "Ann"}]}
    assert client.last_rate_limit == RateLimit(3000, 2998, NOW + 5, None)
    assert result.rate == client.last_rate_limit


def test_trailing_slash_in_endpoint_does_not_double_slash(stub: StubBraze) -> None:
    with BrazeClient(rest_endpoint=stub.url + "/", api_key=SECRET) as c:
        c.segments_list()
    assert stub.seen[0].path == "/segments/list"
    assert stub.seen[0].query == {"page": ["0"]}


def test_one_id_is_plain_several_use_brackets(stub: StubBraze, client: BrazeClient) -> None:
    stub.answer(
        Canned(200, {"status": {"a": "Subscribed"}, "message": "success"}),
        Canned(200, {"status": {"a": "Subscribed", "b": "Unknown"}, "message": "success"}),
    )
    assert client.subscription_status_get("g1", external_ids=["a"]) == {"a": "subscribed"}
    assert client.subscription_status_get("g1", external_ids=["a", "b"]) == {
        "a": "subscribed",
        "b": "unknown",
    }
    assert stub.seen[0].query == {"subscription_group_id": ["g1"], "external_id": ["a"]}
    assert stub.seen[1].query == {"subscription_group_id": ["g1"], "external_id[]": ["a", "b"]}


def test_every_call_has_a_timeout(stub: StubBraze) -> None:
    stub.answer(Canned(delay=1.5))
    with BrazeClient(rest_endpoint=stub.url, api_key=SECRET, timeout=0.3) as slow:
        started = time.monotonic()
        with pytest.raises(RetryableError) as info:
            slow.segments_list()
    assert time.monotonic() - started < 1.4
    assert info.value.status is None
    assert "Braze unreachable" in str(info.value)


def test_redirects_are_not_followed(stub: StubBraze, client: BrazeClient) -> None:
    stub.answer(Canned(302, {}, {"Location": "http://169.254.169.254/latest"}))
    with pytest.raises(PermanentError, match="redirect"):
        client.segments_list()
    assert len(stub.seen) == 1


# -- error translation ---------------------------------------------------------------------------


def raised(stub: StubBraze, client: BrazeClient, canned: Canned, call: Callable[[], object]) -> Any:
    stub.answer(canned)
    with pytest.raises((PermanentError, RetryableError)) as info:
        call()
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value.args)
    return info.value


def test_401_is_permanent_and_in_plain_words(stub: StubBraze, client: BrazeClient) -> None:
    exc = raised(stub, client, Canned(401, {"message": "Invalid API Key"}), client.segments_list)
    assert isinstance(exc, PermanentError)
    assert exc.status == 401
    assert str(exc) == (
        "Braze rejected the API key (401): check the key and the REST endpoint/instance"
    )


@pytest.mark.parametrize(
    ("call", "permission"),
    [
        (lambda c: c.users_track(attributes=[{"external_id": "x"}]), "users.track"),
        (lambda c: c.subscription_user_status(external_ids=["x"]), "subscription.groups.get"),
        (
            lambda c: c.subscription_status_set("g", "subscribed", external_ids=["x"]),
            "subscription.status.set",
        ),
        (lambda c: c.email_blocklist(["a@b.co"]), "email.blacklist"),
        (lambda c: c.email_unsubscribes("2024-01-01", "2024-01-02"), "email.unsubscribe"),
        (lambda c: c.users_export_segment("s", ["email"]), "users.export.segment"),
    ],
)
def test_403_names_the_missing_permission(
    stub: StubBraze, client: BrazeClient, call: Callable[[BrazeClient], object], permission: str
) -> None:
    exc = raised(stub, client, Canned(403, {"message": "Access Denied"}), lambda: call(client))
    assert isinstance(exc, PermanentError)
    assert f"The API key lacks the '{permission}' permission" in str(exc)


def test_other_4xx_carries_braze_message_and_errors(stub: StubBraze, client: BrazeClient) -> None:
    body = {"message": "Bad things", "errors": ["first problem", {"type": "second", "index": 2}]}
    exc = raised(stub, client, Canned(400, body), lambda: client.email_blocklist(["a@b.co"]))
    assert isinstance(exc, PermanentError)
    assert exc.status == 400
    assert "Bad things" in str(exc)
    assert "first problem" in str(exc)
    assert exc.errors == [{"message": "first problem"}, {"type": "second", "index": 2}]


def test_404_points_at_the_endpoint(stub: StubBraze, client: BrazeClient) -> None:
    exc = raised(stub, client, Canned(404, b"<html>nope</html>"), client.segments_list)
    assert isinstance(exc, PermanentError)
    assert "check the REST endpoint" in str(exc)


def test_429_is_retryable_with_wait_from_reset(stub: StubBraze, client: BrazeClient) -> None:
    canned = Canned(
        429,
        {"message": "rate"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 20)},
    )
    exc = raised(stub, client, canned, client.segments_list)
    assert isinstance(exc, RetryableError)
    assert exc.status == 429
    assert exc.retry_after == pytest.approx(20)
    assert client.last_rate_limit is not None and client.last_rate_limit.remaining == 0


def test_429_mau_style_retry_after_header(stub: StubBraze, client: BrazeClient) -> None:
    canned = Canned(429, {}, {"X-Ratelimit-Retry-After": "4"})
    exc = raised(stub, client, canned, lambda: client.users_track(events=[{"external_id": "u"}]))
    assert isinstance(exc, RetryableError)
    assert exc.retry_after == 4.0


def test_429_without_headers_has_no_wait(stub: StubBraze, client: BrazeClient) -> None:
    exc = raised(stub, client, Canned(429, {}), client.segments_list)
    assert isinstance(exc, RetryableError)
    assert exc.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retryable(stub: StubBraze, client: BrazeClient, status: int) -> None:
    exc = raised(
        stub, client, Canned(status, b"upstream broke", {"Retry-After": "3"}), client.segments_list
    )
    assert isinstance(exc, RetryableError)
    assert exc.status == status
    assert exc.retry_after == 3.0


def test_connection_refused_is_retryable_without_status() -> None:
    c = BrazeClient(rest_endpoint=closed_port_url(), api_key=SECRET, timeout=2)
    with pytest.raises(RetryableError) as info:
        c.users_track(attributes=[{"external_id": "u"}])
    assert info.value.status is None
    assert str(info.value).startswith("Braze unreachable")
    assert SECRET not in str(info.value)
    assert SECRET not in str(info.value.__cause__)  # tracebacks print the cause too


def test_key_echoed_by_braze_is_redacted(stub: StubBraze, client: BrazeClient) -> None:
    exc = raised(stub, client, Canned(400, {"message": f"bad key {SECRET}"}), client.segments_list)
    assert "***" in str(exc)


def test_all_invalid_track_raises_with_per_object_errors(
    stub: StubBraze, client: BrazeClient
) -> None:
    errors = [
        {
            "type": "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required",
            "input_array": "attributes",
            "index": 0,
        },
        {"type": "'quantity' is not valid", "input_array": "purchases", "index": 0},
    ]
    body = {
        "message": "Valid data must be provided in the 'attributes', 'events', or 'purchases' "
        "fields.",
        "errors": errors,
    }
    exc = raised(
        stub,
        client,
        Canned(400, body),
        lambda: client.users_track(attributes=[{"a": 1}], purchases=[{"b": 2}]),
    )
    assert isinstance(exc, PermanentError)
    assert exc.errors == errors
    items = to_item_errors(exc.errors)
    assert [(i.input_array, i.index) for i in items] == [("attributes", 0), ("purchases", 0)]
    assert items[1].message == "'quantity' is not valid"


def test_partial_track_errors_come_back_in_the_result(stub: StubBraze, client: BrazeClient) -> None:
    stub.answer(
        Canned(
            201,
            {
                "message": "success",
                "attributes_processed": 2,
                "errors": [
                    {
                        "type": "The value provided for the 'email' field is not a valid email.",
                        "input_array": "attributes",
                        "index": 1,
                        "extra": "x",
                    }
                ],
            },
        )
    )
    result = client.users_track(
        attributes=[
            {"external_id": "a"},
            {"external_id": "b", "email": "nope"},
            {"external_id": "c"},
        ]
    )
    assert not result.ok
    assert result.errors[0].index == 1
    assert result.errors[0].extra == {"extra": "x"}


# -- batch limits: refused before anything is sent -------------------------------------------------

TOO_MANY = [f"id{n}" for n in range(51)]
ALIASES = [{"alias_name": f"n{n}", "alias_label": "l"} for n in range(51)]


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.users_track(attributes=[{"external_id": "u"}] * (USERS_TRACK_MAX_OBJECTS + 1)),
        lambda c: c.users_track(events=[{"external_id": "u"}] * 76),
        lambda c: c.users_track(purchases=[{"external_id": "u"}] * 76),
        lambda c: c.users_track(),
        lambda c: c.subscription_status_set("g", "subscribed", external_ids=TOO_MANY),
        lambda c: c.subscription_status_set("g", "subscribed", emails=["a@b.co"], phones=["+1"]),
        lambda c: c.subscription_status_set("g", "maybe", external_ids=["u"]),
        lambda c: c.subscription_status_set("g", "subscribed"),
        lambda c: c.subscription_status_set_v2(
            [{"subscription_group_id": "g", "subscription_state": "subscribed", "emails": TOO_MANY}]
        ),
        lambda c: c.subscription_status_set_v2(
            [
                {
                    "subscription_group_id": "g",
                    "subscription_state": "subscribed",
                    "emails": ["a"],
                    "phones": ["b"],
                }
            ]
        ),
        lambda c: c.subscription_status_get("g", external_ids=TOO_MANY),
        lambda c: c.subscription_user_status(external_ids=TOO_MANY),
        lambda c: c.subscription_user_status(external_ids=["u"], limit=101),
        lambda c: c.users_delete(external_ids=TOO_MANY),
        lambda c: c.users_delete(external_ids=["a"], emails=["a@b.co"]),
        lambda c: c.users_delete(),
        lambda c: c.users_alias_new(ALIASES),
        lambda c: c.users_alias_new([{"alias_name": "only-name"}]),
        lambda c: c.users_export_ids(external_ids=TOO_MANY),
        lambda c: c.users_export_ids(external_ids=TOO_MANY[:30], user_aliases=ALIASES[:21]),
        lambda c: c.users_export_ids(external_ids=["a"], email="a@b.co"),
        lambda c: c.users_export_ids(external_ids=["a"], fields_to_export=[]),
        lambda c: c.users_export_segment("s", ["email"], output_format="tar"),
        lambda c: c.users_export_segment("s", ["email"], custom_attributes_to_export=["x"] * 501),
        lambda c: c.email_unsubscribes("2024-01-01", "2024-01-02", limit=501),
        lambda c: c.email_status(TOO_MANY, "unsubscribed"),
        lambda c: c.email_status(["a@b.co"], "maybe"),
        lambda c: c.email_blocklist(TOO_MANY),
        lambda c: c.segments_list(-1),
    ],
)
def test_oversized_or_malformed_calls_are_refused_before_sending(
    stub: StubBraze, client: BrazeClient, call: Callable[[BrazeClient], object]
) -> None:
    with pytest.raises(ValueError):
        call(client)
    assert stub.seen == []


def test_exactly_the_limit_is_sent(stub: StubBraze, client: BrazeClient) -> None:
    client.users_track(attributes=[{"external_id": f"u{n}"} for n in range(75)])
    client.subscription_status_set("g", "subscribed", external_ids=TOO_MANY[:50])
    assert len(stub.seen[0].body["attributes"]) == 75
    assert len(stub.seen[1].body["external_id"]) == 50


# -- response shapes -----------------------------------------------------------------------------


def test_user_status_users_shape_is_normalised() -> None:
    body = {
        "users": [
            {
                "email": "a@b.co",
                "phone": None,
                "external_id": "u1",
                "subscription_groups": [
                    {"id": "g1", "name": "News", "channel": "email", "status": "Subscribed"},
                    {"id": "g2", "name": "Deals", "channel": "email", "status": "Unsubscribed"},
                ],
            },
        ],
        "total_count": 1,
        "message": "success",
    }
    statuses = to_user_group_statuses(body, ["u1"])
    assert [(s.external_id, s.email, s.group_id, s.state, s.channel) for s in statuses] == [
        ("u1", "a@b.co", "g1", "subscribed", "email"),
        ("u1", "a@b.co", "g2", "unsubscribed", "email"),
    ]


def test_user_status_docs_shape_is_normalised() -> None:
    body = {
        "success": True,
        "subscription_groups": [
            {"subscription_group_id": "g1", "subscription_status": "Subscribed"},
            {"subscription_group_id": "g2", "subscription_status": "unsubscribed"},
        ],
    }
    statuses = to_user_group_statuses(body, ["u1"])
    assert [(s.external_id, s.group_id, s.state) for s in statuses] == [
        ("u1", "g1", "subscribed"),
        ("u1", "g2", "unsubscribed"),
    ]
    assert to_user_group_statuses(body, ["u1", "u2"])[0].external_id is None


# -- sandbox -------------------------------------------------------------------------------------


class ExplodingSession(requests.Session):
    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        raise AssertionError("the sandbox must not touch the network")


def test_sandbox_records_every_call_and_sends_nothing() -> None:
    recorded: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = []
    sandbox = SandboxBrazeClient(
        lambda method, path, body, query: recorded.append((method, path, body, query)),
        rest_endpoint=closed_port_url(),
        api_key=SECRET,
        session=ExplodingSession(),
    )
    track = sandbox.users_track(
        attributes=[{"external_id": "u1"}, {"external_id": "u2"}],
        events=[{"external_id": "u1", "name": "e", "time": "2024-01-01T00:00:00Z"}],
    )
    assert track.processed == {"attributes": 2, "events": 1}
    sandbox.subscription_status_set("g", "unsubscribed", emails=["a@b.co"])
    sandbox.subscription_status_set_v2(
        [{"subscription_group_id": "g", "subscription_state": "subscribed", "external_ids": ["u1"]}]
    )
    assert sandbox.subscription_user_status(external_ids=["u1"]) == []
    assert sandbox.subscription_status_get("g", external_ids=["u1"]) == {}
    assert sandbox.users_delete(external_ids=["u1", "u2"]) == 2
    assert sandbox.users_alias_new([{"alias_name": "n", "alias_label": "l"}]) == 1
    assert sandbox.users_export_ids(external_ids=["u1"]) == []
    prefix = sandbox.users_export_segment("seg", ["email"])
    assert len(prefix) > 37 and prefix[36] == "-"
    assert list(sandbox.iter_segments()) == []
    assert list(sandbox.iter_email_unsubscribes("2024-01-01", "2024-01-31")) == []
    sandbox.email_status(["a@b.co"], "subscribed")
    sandbox.email_blocklist(["a@b.co"])
    checks = sandbox.check_access()
    assert all(c.ok for c in checks) and len(checks) == 5

    paths = [path for _, path, _, _ in recorded]
    assert paths[:9] == [
        "/users/track",
        "/subscription/status/set",
        "/v2/subscription/status/set",
        "/subscription/user/status",
        "/subscription/status/get",
        "/users/delete",
        "/users/alias/new",
        "/users/export/ids",
        "/users/export/segment",
    ]
    assert recorded[1] == (
        "POST",
        "/subscription/status/set",
        {"subscription_group_id": "g", "subscription_state": "unsubscribed", "email": ["a@b.co"]},
        None,
    )
    assert recorded[3][3] == {"limit": 100, "offset": 0, "external_id": "u1"}
    assert sandbox.last_rate_limit == RateLimit()


def test_sandbox_still_enforces_batch_limits() -> None:
    recorded: list[str] = []
    sandbox = SandboxBrazeClient(
        lambda m, p, b, q: recorded.append(p), rest_endpoint=closed_port_url()
    )
    with pytest.raises(ValueError):
        sandbox.users_track(attributes=[{"external_id": "u"}] * 76)
    assert recorded == []


def test_repr_hides_the_key(client: BrazeClient) -> None:
    assert SECRET not in repr(client)
    assert SECRET not in str(vars(client).get("rest_endpoint"))
