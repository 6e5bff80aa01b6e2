"""Rate limits of the widget's bootstrap and save calls: per visitor token and per client address,
each endpoint its own, counted in one Redis call (``limits.acquire_all``) in deployments."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from backend.app import create_app
from backend.services.deps import Deps
from backend.settings import Settings
from backend.web.widget_api import limits as lim
from tests.integration.preferences.conftest import PROPERTY, auth, token

pytestmark = pytest.mark.integration
SAVE = "/api/public/v1/preferences"
BOOT = "/api/public/v1/bootstrap"
CHANGE = {"subscription": "newsletter", "channel": "email", "state": "subscribed"}


TOKENS: dict[str, str] = {}


def save(client: FlaskClient, sub: str, address: str = "203.0.113.7") -> Any:
    # One token per visitor, as a page holds it (a token minted a second later is another key).
    visitor_token = TOKENS.setdefault(sub, token(sub))
    return client.post(
        SAVE,
        json={"property": PROPERTY, "changes": [CHANGE]},
        headers=auth(visitor_token),
        environ_base={"REMOTE_ADDR": address},
    )


def test_one_visitor_gets_429_with_retry_after_past_the_per_token_limit(
    client: FlaskClient, configured: Deps
) -> None:
    TOKENS.clear()
    limit = int(lim.WIDGET_PER_TOKEN.split("/")[0])
    statuses = [save(client, "user-1", f"198.51.100.{i % 200}").status_code for i in range(limit)]
    assert set(statuses) == {200}
    refused = save(client, "user-1", "198.51.100.250")  # a new address does not help
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.get_json()["error"]["code"] == "too_many_requests"
    assert save(client, "user-2").status_code == 200  # another visitor is not held up
    # Bootstrap is counted on its own.
    boot = client.post(BOOT, json={"property": PROPERTY}, headers=auth(token("user-1")))
    assert boot.status_code == 200


def test_one_address_gets_429_past_the_per_address_limit(
    client: FlaskClient, configured: Deps
) -> None:
    TOKENS.clear()
    limit = int(lim.WIDGET_PER_IP.split("/")[0])
    statuses = [save(client, f"visitor-{i}").status_code for i in range(limit)]
    assert set(statuses) == {200}
    assert save(client, "one-more").status_code == 429
    assert save(client, "one-more", "192.0.2.1").status_code == 200


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_limits_are_counted_together_in_redis_and_a_refused_request_counts_for_none(
    redis_client: redis.Redis,
) -> None:
    pairs = [("3/minute", "ip:a"), ("2/minute", "tok:x")]
    now = 1_000_000.0
    assert lim.acquire_all(redis_client, pairs, now) == 0
    assert lim.acquire_all(redis_client, pairs, now + 1) == 0
    # The token's limit (2) is spent: refused, with the time until its oldest hit leaves.
    assert lim.acquire_all(redis_client, pairs, now + 2) == 58
    # The refused request was not counted by the address either: another token still passes.
    other = [("3/minute", "ip:a"), ("2/minute", "tok:y")]
    assert lim.acquire_all(redis_client, other, now + 3) == 0
    assert (
        lim.acquire_all(redis_client, other, now + 4) == 56
    )  # now the address is spent (its oldest hit: now)
    # A minute after the first hits the window has room again.
    assert lim.acquire_all(redis_client, pairs, now + 61) == 0


def test_with_redis_storage_the_api_counts_both_limits_in_one_script_call(
    settings: Settings, configured: Deps, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployed path: Flask-Limiter's storage is Redis, and each save is one script call."""
    app = create_app(replace(settings, redis_url=redis_url), configured)
    app.config["RATELIMIT_ENABLED"] = True
    calls: list[int] = []
    real = lim.acquire_all

    def counted(client: Any, limits: Any, now: float) -> int:
        calls.append(len(limits))
        return real(client, limits, now)

    monkeypatch.setattr(lim, "acquire_all", counted)
    TOKENS.clear()
    client = app.test_client()
    limit = int(lim.WIDGET_PER_TOKEN.split("/")[0])
    assert {save(client, "user-1", f"198.51.100.{i % 200}").status_code for i in range(limit)} == {
        200
    }
    refused = save(client, "user-1")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert calls == [2] * (limit + 1)


def test_no_limit_check_runs_for_every_request_and_view_limits_still_apply(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flask-Limiter's app-wide hook is taken out (there is nothing for it to check); the limits
    declared on views are checked by their wrappers all the same."""
    from backend.web.security import limiter

    assert limiter._check_request_limit not in app.before_request_funcs.get(None, [])
    # The tag route carries ``@limiter.limit("1200 per minute")``: its wrapper still counts.
    hits: list[str] = []
    real = limiter.limiter.hit

    def counted(item: Any, *identifiers: str, cost: int = 1) -> bool:
        hits.append(str(item))
        return bool(real(item, *identifiers, cost=cost))

    monkeypatch.setattr(limiter.limiter, "hit", counted)
    app.test_client().get("/t/nowhere.js")
    assert any("1200" in hit for hit in hits)


@pytest.mark.parametrize(
    ("defaults", "dropped"), [([], True), (["100/minute"], False)], ids=["none", "a default"]
)
def test_the_hook_stays_whenever_it_has_a_limit_to_check(
    defaults: list[str], dropped: bool
) -> None:
    from flask import Flask
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    from backend.web.security import drop_idle_limit_hook

    app = Flask("hook-test")
    app.config["RATELIMIT_STORAGE_URI"] = "memory://"
    extension = Limiter(key_func=get_remote_address, default_limits=defaults)
    extension.init_app(app)
    assert drop_idle_limit_hook(app, extension) is dropped
    hooked = extension._check_request_limit in app.before_request_funcs.get(None, [])
    assert hooked is not dropped
    # With a default limit kept, every request is still counted.
    if not dropped:
        app.add_url_rule("/x", "x", lambda: "ok")
        client = app.test_client()
        assert [client.get("/x").status_code for _ in range(101)][-1] == 429
