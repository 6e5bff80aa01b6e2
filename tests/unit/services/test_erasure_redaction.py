"""Redaction after an erasure: whole identifiers only, at any depth, any spelling of an email."""

from __future__ import annotations

from backend.services.erasure import REDACTED, _like, _pattern, redact_value


def test_whole_identifiers_are_redacted_and_longer_ones_are_not() -> None:
    patterns = [_pattern("user-1"), _pattern("Jane@Example.com")]
    assert redact_value("user-1", patterns) == REDACTED
    assert redact_value("x:user-1", patterns) == f"x:{REDACTED}"
    assert redact_value("user-10 and user-1.", patterns) == f"user-10 and {REDACTED}."
    assert redact_value("mail JANE@example.COM now", patterns) == f"mail {REDACTED} now"
    assert redact_value("xjane@example.com", patterns) == "xjane@example.com"


def test_json_values_are_walked_keys_included() -> None:
    patterns = [_pattern("u1")]
    value = {"a": ["u1", {"u1": 1, "b": "u10"}], "n": 5, "none": None}
    assert redact_value(value, patterns) == {
        "a": [REDACTED, {REDACTED: 1, "b": "u10"}],
        "n": 5,
        "none": None,
    }


def test_like_patterns_cover_the_json_escaped_spelling_and_escape_wildcards() -> None:
    assert sorted(_like("a_b%c")) == ["%a\\_b\\%c%"]
    forms = _like("josé@example.com")
    assert "%josé@example.com%" in forms and "%jos\\\\u00e9@example.com%" in forms


def test_a_dot_continues_an_address_but_ends_a_sentence() -> None:
    patterns = [_pattern("jane@example.com")]
    assert redact_value("jane@example.com.au", patterns) == "jane@example.com.au"
    assert redact_value("john.jane@example.com", patterns) == "john.jane@example.com"
    assert redact_value("Write to jane@example.com.", patterns) == f"Write to {REDACTED}."
