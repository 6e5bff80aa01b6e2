"""The signed callback address Braze calls when a segment export is complete."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from backend.domain import export_callback as cb

KEY = b"k" * 32


def test_the_url_carries_the_run_and_a_signature_only_the_key_makes() -> None:
    url = cb.callback_url("https://optline.example.com/api/sync/v1/export-ready", KEY, 42)
    query = parse_qs(urlsplit(url).query)
    assert query["run"] == ["42"]
    assert cb.is_valid(KEY, 42, query["sig"][0])
    assert not cb.is_valid(KEY, 43, query["sig"][0])  # another run
    assert not cb.is_valid(b"x" * 32, 42, query["sig"][0])  # another installation
    assert not cb.is_valid(KEY, 42, "")
    assert not cb.is_valid(KEY, 42, query["sig"][0][:-1] + "0")


@pytest.mark.parametrize(
    ("url", "reachable"),
    [
        ("https://optline.example.com", True),
        ("https://prefs.acme.co.uk:8443", True),
        ("http://optline.example.com", False),  # Braze calls https only; not over plain http
        ("https://localhost:8000", False),
        ("https://127.0.0.1", False),
        ("https://optline.local", False),
    ],
)
def test_only_a_public_https_address_is_given_to_braze(url: str, reachable: bool) -> None:
    assert cb.reachable_by_braze(url) is reachable
