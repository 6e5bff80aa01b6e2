"""Signed email links: the message Braze Liquid signs, constant-time checks, expiry."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from backend.domain.hosted_links import (
    PAGE_LINK_TTL,
    LinkRejectedError,
    check_link,
    link_message,
    link_query,
    parse_link,
    sign_link,
)

SECRET = "a-signing-secret-of-the-property-0123456789"
NOW = 1_700_000_000


def test_sign_link_is_what_braze_hmac_sha256_hex_gives() -> None:
    # Braze's Liquid docs: {{'hey' | hmac_sha256_hex: 'secret_key'}} → 8df897f8…508e
    digest = hmac.new(b"secret_key", b"hey", hashlib.sha256).hexdigest()
    assert digest == "8df897f8da3d7992fe57c8dbc6f27578cfbf2dcc4d0fbb4000b8c924841d508e"
    # The snippet's message: optline-link:<property>:<topic or empty>:<ts>:<user id>
    assert link_message("acme-web", "user:1", NOW) == b"optline-link:acme-web::1700000000:user:1"
    expected = hmac.new(SECRET.encode(), link_message("acme-web", "u", NOW), hashlib.sha256)
    assert sign_link(SECRET, "acme-web", "u", NOW) == expected.hexdigest()


def test_field_order_keeps_messages_apart() -> None:
    """The free-form id is last and the topic always present: no two links share a message."""
    assert link_message("p", "2024:uid", 1) != link_message("p", "uid", 1, topic="2024")
    assert link_message("p", "1:u", 2) != link_message("p", "u", 21)


def params(**edit: str) -> dict[str, str]:
    query = link_query(SECRET, "acme-web", "user-1", NOW)
    query.update(edit)
    return query


def test_a_good_link_passes_with_any_of_the_secrets() -> None:
    check_link(parse_link("acme-web", params()), ["old-secret", SECRET], now=NOW, ttl=60)
    upper = parse_link("acme-web", params(sig=params()["sig"].upper()))
    check_link(upper, [SECRET], now=NOW, ttl=60)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ({"sig": "0" * 64}, "bad_signature"),
        ({"uid": "user-2"}, "bad_signature"),
        ({"ts": str(NOW + 1)}, "bad_signature"),
        ({"topic": "offers"}, "bad_signature"),
        ({"sig": "xyz"}, "malformed"),
        ({"uid": ""}, "malformed"),
        ({"uid": "a\nb"}, "malformed"),
        ({"ts": "-1"}, "malformed"),
        ({"topic": "Bad Topic"}, "malformed"),
    ],
)
def test_altered_links_are_refused(edit: dict[str, str], reason: str) -> None:
    with pytest.raises(LinkRejectedError) as caught:
        check_link(parse_link("acme-web", params(**edit)), [SECRET], now=NOW, ttl=60)
    assert caught.value.reason == reason


def test_another_property_cannot_use_the_link() -> None:
    with pytest.raises(LinkRejectedError):
        check_link(parse_link("other-site", params()), [SECRET], now=NOW, ttl=60)


def test_expiry_is_judged_only_after_the_signature() -> None:
    old = parse_link("acme-web", params())
    check_link(old, [SECRET], now=NOW + PAGE_LINK_TTL, ttl=PAGE_LINK_TTL)
    with pytest.raises(LinkRejectedError) as expired:
        check_link(old, [SECRET], now=NOW + PAGE_LINK_TTL + 1, ttl=PAGE_LINK_TTL)
    assert expired.value.reason == "expired"
    with pytest.raises(LinkRejectedError) as forged:
        check_link(old, ["wrong"], now=NOW + PAGE_LINK_TTL + 1, ttl=PAGE_LINK_TTL)
    assert forged.value.reason == "bad_signature"
    with pytest.raises(LinkRejectedError):
        check_link(old, [SECRET], now=NOW - 3600, ttl=PAGE_LINK_TTL)  # signed in the future


def test_a_property_without_secrets_accepts_nothing() -> None:
    with pytest.raises(LinkRejectedError):
        check_link(parse_link("acme-web", params()), [], now=NOW, ttl=60)
