"""The REST-endpoint guard: only Braze's published hosts unless custom endpoints are allowed."""

from __future__ import annotations

import pytest

from backend.domain.braze_hosts import (
    BRAZE_REST_HOSTS,
    check_rest_endpoint,
    normalise_rest_endpoint,
)


def test_every_documented_instance_is_listed() -> None:
    expected = {f"rest.iad-0{n}.braze.com" for n in range(1, 9)} | {
        "rest.iad-10.braze.com",
        "rest.us-10.braze.com",
        "rest.fra-01.braze.eu",
        "rest.fra-02.braze.eu",
        "rest.au-01.braze.com",
    }
    assert expected == BRAZE_REST_HOSTS


@pytest.mark.parametrize("host", sorted(BRAZE_REST_HOSTS))
def test_published_hosts_pass(host: str) -> None:
    assert check_rest_endpoint(f"https://{host}", allow_custom=False) is None
    assert check_rest_endpoint(f"https://{host}/", allow_custom=False) is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "Enter the REST endpoint"),
        ("rest.iad-01.braze.com", "full URL"),
        ("ftp://rest.iad-01.braze.com", "full URL"),
        ("http://rest.iad-01.braze.com", "https"),
        ("https://rest.iad-09.braze.com", "not a Braze REST endpoint"),
        ("https://rest.iad-01.braze.com.evil.example", "not a Braze REST endpoint"),
        ("https://169.254.169.254", "not a Braze REST endpoint"),
        ("https://localhost", "not a Braze REST endpoint"),
        ("https://user:pw@rest.iad-01.braze.com", "user name or password"),
        ("https://rest.iad-01.braze.com@evil.example", "user name or password"),
        ("https://rest.iad-01.braze.com/users/track", "without a path"),
        ("https://rest.iad-01.braze.com/?x=1", "query string"),
        ("https://rest.iad-01.braze.com#frag", "fragment"),
        ("https://rest.iad-01.braze.com:8443", "port"),
        ("https://rest.iad-01.braze.com:99999", "invalid port"),
        ("https://rest.iad-01 .braze.com", "spaces"),
        ("https://rest.iad-01.braze.com\\@evil", "backslashes"),
    ],
)
def test_bad_endpoints_are_refused_in_words(url: str, words: str) -> None:
    message = check_rest_endpoint(url, allow_custom=False)
    assert message is not None
    assert words in message


def test_custom_endpoints_allow_any_host_and_http_but_not_paths_or_credentials() -> None:
    assert check_rest_endpoint("http://127.0.0.1:5001", allow_custom=True) is None
    assert check_rest_endpoint("https://braze-proxy.internal/", allow_custom=True) is None
    assert check_rest_endpoint("http://127.0.0.1:5001/api", allow_custom=True) is not None
    assert check_rest_endpoint("http://u:p@127.0.0.1:5001", allow_custom=True) is not None
    assert check_rest_endpoint("http://127.0.0.1:5001?q=1", allow_custom=True) is not None
    assert check_rest_endpoint("gopher://127.0.0.1", allow_custom=True) is not None


def test_published_port_443_is_accepted() -> None:
    assert check_rest_endpoint("https://rest.fra-01.braze.eu:443", allow_custom=False) is None


def test_host_match_ignores_case() -> None:
    assert check_rest_endpoint("HTTPS://REST.IAD-01.BRAZE.COM", allow_custom=False) is None


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("https://rest.iad-01.braze.com/", "https://rest.iad-01.braze.com"),
        ("  https://REST.iad-01.braze.com//  ", "https://rest.iad-01.braze.com"),
        ("http://127.0.0.1:5001", "http://127.0.0.1:5001"),
    ],
)
def test_normalise_strips_trailing_slashes_and_lowercases_host(raw: str, normal: str) -> None:
    assert normalise_rest_endpoint(raw) == normal
