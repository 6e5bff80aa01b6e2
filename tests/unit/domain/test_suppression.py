"""Suppression hashes: keyed, normalised per kind, and never the plaintext."""

from __future__ import annotations

import pytest

from backend.domain import suppression

SALT = b"s" * 32


def test_emails_are_normalised_and_external_ids_are_case_sensitive() -> None:
    a = suppression.digest(SALT, "email", " Jane@Example.COM ")
    assert a == suppression.digest(SALT, "email", "jane@example.com")
    assert suppression.digest(SALT, "external_id", "U1") != suppression.digest(
        SALT, "external_id", "u1"
    )
    assert suppression.digest(SALT, "external_id", " u1 ") == suppression.digest(
        SALT, "external_id", "u1"
    )


def test_the_key_and_the_kind_both_matter() -> None:
    assert suppression.digest(SALT, "email", "a@b.co") != suppression.digest(
        b"t" * 32, "email", "a@b.co"
    )
    assert suppression.digest(SALT, "email", "x") != suppression.digest(SALT, "external_id", "x")
    assert "a@b.co" not in suppression.digest(SALT, "email", "a@b.co")
    with pytest.raises(ValueError):
        suppression.digest(SALT, "phone", "1")


def test_digests_skip_empty_values_and_requesters_need_an_identifier() -> None:
    found = suppression.digests(SALT, external_ids=["u1", None, " "], emails=["a@b.co", ""])
    assert {kind for kind, _ in found} == {"external_id", "email"} and len(found) == 2
    assert suppression.requester_digest(SALT, external_id="u1", email="a@b.co") == (
        suppression.digest(SALT, "external_id", "u1")
    )
    assert suppression.requester_digest(SALT, external_id=None, email="a@b.co") == (
        suppression.digest(SALT, "email", "a@b.co")
    )
    with pytest.raises(ValueError):
        suppression.requester_digest(SALT, external_id=None, email=None)
