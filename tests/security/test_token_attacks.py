"""Token attacks not covered by tests/integration/preferences/test_widget_tokens.py: HS/RS key
confusion, crafted ``kid`` values, algorithm spellings and keys carried in the header. Each is a
401 that reads and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.services.deps import Deps
from tests.hostile.conftest import PROPERTY, SECRET
from tests.security.conftest import (
    RSA_PROPERTY,
    RSA_PUBLIC_PEM,
    b64url,
    claims,
    row_counts,
    sign_good,
    sign_hs256,
    sign_rs256,
)

pytestmark = pytest.mark.integration
CHANGE = {"subscription": "newsletter", "channel": "email", "state": "subscribed"}
RSA_AS_SECRET = RSA_PUBLIC_PEM.encode()
ATTACKS: dict[str, tuple[str, str]] = {
    # (property the request names, token)
    "hs256-signed-with-rs256-public-key": (
        RSA_PROPERTY, sign_hs256(claims(RSA_PROPERTY), RSA_AS_SECRET, kid="rs1")
    ),
    "hs256-rs-public-key-no-kid": (
        RSA_PROPERTY, sign_hs256(claims(RSA_PROPERTY), RSA_AS_SECRET, kid=None)
    ),
    "hs256-rs-public-key-stripped-pem": (
        RSA_PROPERTY, sign_hs256(claims(RSA_PROPERTY), RSA_AS_SECRET.strip(), kid="rs1")
    ),
    "rs256-header-on-an-hs256-signature": (
        RSA_PROPERTY, sign_hs256(claims(RSA_PROPERTY), RSA_AS_SECRET, alg="RS256", kid="rs1")
    ),
    "kid-path-traversal": (PROPERTY, sign_hs256(claims(), kid="../../../../etc/passwd")),
    "kid-sql": (PROPERTY, sign_hs256(claims(), kid="k1' OR '1'='1")),
    "kid-sql-union": (PROPERTY, sign_hs256(claims(), kid="x' UNION SELECT secret FROM x--")),
    "kid-very-long": (PROPERTY, sign_hs256(claims(), kid="k" * 2000)),
    "kid-unknown": (PROPERTY, sign_hs256(claims(), kid="k2")),
    "kid-null-byte": (PROPERTY, sign_hs256(claims(), kid="k1\x00")),
    "kid-not-a-string": (PROPERTY, sign_hs256(claims(), kid=["k1"])),
    "kid-empty-and-empty-secret": (PROPERTY, sign_hs256(claims(), secret="", kid="")),
    "alg-None-capitalised": (PROPERTY, sign_hs256(claims(), alg="None")),
    "alg-hs256-lowercase": (PROPERTY, sign_hs256(claims(), alg="hs256")),
    "alg-HS512": (PROPERTY, sign_hs256(claims(), alg="HS512")),
    "embedded-jwk": (
        PROPERTY,
        sign_hs256(
            claims(), secret="attacker", jwk={"kty": "oct", "k": b64url(b"attacker")}
        ),
    ),
    "jku-header": (
        PROPERTY, sign_hs256(claims(), secret="attacker", jku="https://evil.example/jwks.json")
    ),
    "rs256-token-for-an-hs256-property": (PROPERTY, sign_rs256(claims(), kid="k1")),
    "rs256-token-aimed-at-another-property": (PROPERTY, sign_rs256(claims())),
    "hs256-token-replayed-on-the-rsa-property": (RSA_PROPERTY, sign_good(claims())),
}  # fmt: skip


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_the_attack_is_a_401_that_reads_and_writes_nothing(
    client: FlaskClient, configured: Deps, jobs: Any, attack: str
) -> None:
    property_code, bad = ATTACKS[attack]
    before = row_counts(configured)
    headers = {"Authorization": f"Bearer {bad}"}
    saved = client.post(
        "/api/public/v1/preferences",
        json={"property": property_code, "changes": [CHANGE]},
        headers=headers,
    )
    assert saved.status_code == 401, (attack, saved.get_json())
    assert saved.get_json()["error"]["code"] == "invalid_token"
    read = client.post(
        "/api/public/v1/bootstrap", json={"property": property_code}, headers=headers
    )
    assert read.status_code == 401 and "topics" not in read.get_json()
    # The same token in the body (the CORS simple-request path) is refused the same way.
    in_body = client.post(
        "/api/public/v1/preferences",
        data=f'{{"property": "{property_code}", "token": "{bad}", "changes": []}}',
        content_type="text/plain",
    )
    assert in_body.status_code == 401
    assert row_counts(configured) == before and jobs.calls == []


def test_the_genuine_tokens_pass_next_to_the_attacks(client: FlaskClient, configured: Deps) -> None:
    """Positive controls: the refusals above come from the attack, not a broken setup."""
    for property_code, good in (
        (RSA_PROPERTY, sign_rs256(claims(RSA_PROPERTY))),
        (PROPERTY, sign_hs256(claims(), SECRET)),
    ):
        response = client.post(
            "/api/public/v1/bootstrap",
            json={"property": property_code},
            headers={"Authorization": f"Bearer {good}"},
        )
        assert response.status_code == 200, (property_code, response.get_json())
