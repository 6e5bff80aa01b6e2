import pytest

from backend.domain.identity import TokenRejectedError, check_claims

NOW = 1_800_000_000


def claims(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {"aud": "acme", "sub": "u1", "iat": NOW, "exp": NOW + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_valid_claims_give_an_identity() -> None:
    identity = check_claims(
        claims(email="A@Example.com"), property_code="acme", max_ttl=3600, now=NOW, kid="k1"
    )
    assert identity.external_id == "u1"
    assert identity.email == "a@example.com"
    assert identity.proof == "token:k1"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "other"}, "wrong audience"),
        ({"sub": None}, "sub"),
        ({"sub": ""}, "sub"),
        ({"iat": None}, "iat and exp"),
        ({"exp": None}, "iat and exp"),
        ({"iat": NOW + 600, "exp": NOW + 900}, "future"),
        ({"iat": NOW - 4000, "exp": NOW - 400}, "expired"),
        ({"iat": NOW, "exp": NOW + 7200}, "lifetime"),
        ({"iat": True, "exp": NOW + 10}, "iat and exp"),
        ({"email": "not-an-email"}, "email"),
    ],
)
def test_bad_claims_are_rejected(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(TokenRejectedError, match=reason):
        check_claims(claims(**overrides), property_code="acme", max_ttl=3600, now=NOW, kid="k1")


def test_a_lower_property_limit_applies() -> None:
    with pytest.raises(TokenRejectedError, match="lifetime"):
        check_claims(claims(exp=NOW + 1200), property_code="acme", max_ttl=900, now=NOW, kid="k")
