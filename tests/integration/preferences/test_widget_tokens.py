"""Capture alone never authorises: every forged, stale or misdirected token is a 401 that reads
and writes nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.services.deps import Deps
from backend.services.widget_identity import mint_session_token
from tests.integration.preferences.conftest import PROPERTY, SECRET, auth, row_counts, sign, token

pytestmark = pytest.mark.integration
GOOD = {"subscription": "newsletter", "channel": "email", "state": "subscribed"}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any]) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def signed_payload(payload: bytes) -> str:
    """A token correctly signed with the site's key whose payload is ``payload`` as given."""
    head = b64({"alg": "HS256", "kid": "k1", "typ": "JWT"})
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    mac = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"aud": PROPERTY, "sub": "user-1", "iat": now, "exp": now + 600} | overrides


def forged_tokens(deps: Deps) -> dict[str, str]:
    now = int(time.time())
    return {
        "alg-none": unsigned(claims()),
        "alg-none-with-kid": f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(claims())}.",
        "wrong-key": sign(claims(), secret="not-the-secret-" + SECRET),
        "wrong-kid": sign(claims(), kid="k9"),
        "wrong-aud": sign(claims(aud="other-site")),
        "expired": sign(claims(iat=now - 900, exp=now - 300)),
        "too-long-lived": sign(claims(exp=now + 7200)),
        "future-iat": sign(claims(iat=now + 3600, exp=now + 3900)),
        "no-sub": sign({k: v for k, v in claims().items() if k != "sub"}),
        "no-exp": sign({k: v for k, v in claims().items() if k != "exp"}),
        "other-property-token": sign(claims(aud="other-site"), secret="other-" + SECRET, kid="o1"),
        "oversized": sign(claims(pad="x" * 5000)),
        "garbage": "not.a.jwt",
        "signed-array-claims": signed_payload(json.dumps([claims()]).encode()),
        "signed-non-json-claims": signed_payload(b"sub=user-1"),
        "empty-signature": token().rsplit(".", 1)[0] + ".",
        "tampered-claims": ".".join(
            [token().split(".")[0], b64(claims(sub="someone-else")), token().split(".")[2]]
        ),
        "session-for-other-property": mint_session_token(deps, "other-site", "a@b.co", now),
        "session-signed-by-site-key": sign(
            {
                "iss": "optline",
                "aud": PROPERTY,
                "sub": "email:a@b.co",
                "iat": now,
                "exp": now + 600,
                "typ": "widget_session",
            },
            header={"alg": "HS256", "typ": "optline-session+jwt", "kid": "k1"},
        ),
        "site-token-dressed-as-session": sign(
            claims(), header={"alg": "HS256", "typ": "optline-session+jwt", "kid": "k1"}
        ),
    }


ATTACKS = [
    "alg-none", "alg-none-with-kid", "wrong-key", "wrong-kid", "wrong-aud", "expired",
    "too-long-lived", "future-iat", "no-sub", "no-exp", "other-property-token", "oversized",
    "garbage", "empty-signature", "tampered-claims", "session-for-other-property",
    "session-signed-by-site-key", "site-token-dressed-as-session", "signed-array-claims",
    "signed-non-json-claims",
]  # fmt: skip


@pytest.mark.parametrize("attack", ATTACKS)
def test_forged_tokens_are_refused_and_nothing_is_written(
    client: FlaskClient, configured: Deps, jobs: Any, attack: str
) -> None:
    bad = forged_tokens(configured)[attack]
    before = row_counts(configured)
    saved = client.post(
        "/api/public/v1/preferences",
        json={"property": PROPERTY, "changes": [GOOD]},
        headers=auth(bad),
    )
    assert saved.status_code == 401, saved.get_json()
    assert saved.get_json()["error"]["code"] == "invalid_token"
    booted = client.post("/api/public/v1/bootstrap", json={"property": PROPERTY}, headers=auth(bad))
    assert booted.status_code == 401 and "topics" not in booted.get_json()
    assert row_counts(configured) == before and jobs.calls == []


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer", "Bearer  ", "token abc"])
def test_missing_or_malformed_authorization_is_401(
    client: FlaskClient, configured: Deps, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = client.post(
        "/api/public/v1/preferences",
        json={"property": PROPERTY, "changes": [GOOD]},
        headers=headers,
    )
    assert response.status_code == 401
    assert row_counts(configured)["subjects"] == 0


def test_the_real_token_still_works_next_to_the_attacks(
    client: FlaskClient, configured: Deps
) -> None:
    response = client.post(
        "/api/public/v1/preferences",
        json={"property": PROPERTY, "changes": [GOOD]},
        headers=auth(token()),
    )
    assert response.status_code == 200


def test_a_session_token_expires_after_15_minutes(client: FlaskClient, configured: Deps) -> None:
    stale = mint_session_token(configured, PROPERTY, "a@b.co", int(time.time()) - 901)
    response = client.post(
        "/api/public/v1/bootstrap", json={"property": PROPERTY}, headers=auth(stale)
    )
    assert response.status_code == 401
    fresh = mint_session_token(configured, PROPERTY, "a@b.co", int(time.time()))
    assert (
        client.post(
            "/api/public/v1/bootstrap", json={"property": PROPERTY}, headers=auth(fresh)
        ).status_code
        == 200
    )
