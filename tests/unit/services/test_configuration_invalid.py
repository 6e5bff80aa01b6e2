"""Invalid configurations: each is refused with a path-named message and writes nothing."""

import copy
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from backend.domain.config_registry import sections
from backend.domain.config_specs import REDACTED
from backend.domain.errors import ValidationError
from backend.services.configuration import apply_configuration, read_configuration_file
from backend.services.deps import Deps
from backend.settings import Settings
from backend.wiring import build_deps
from tests.config_samples import SAMPLE_YAML, row_counts, sample_document, snapshot

Doc = dict[str, Any]


@pytest.fixture
def strict_deps(settings: Settings) -> Iterator[Deps]:
    """Deps of an instance that only accepts Braze's published REST hosts."""
    built = build_deps(replace(settings, allow_custom_braze_endpoints=False))
    yield built
    engine = built.sessions.kw.get("bind")
    if engine is not None:
        engine.dispose()


def conn(d: Doc) -> Doc:
    return d["braze_connections"][0]


def prop(d: Doc) -> Doc:
    return d["properties"][0]


def sub(d: Doc, i: int = 0) -> Doc:
    return d["subscriptions"][i]


CASES: list[tuple[str, Callable[[Doc], None], str]] = [
    (
        "missing field",
        lambda d: conn(d).pop("rest_endpoint"),
        "braze_connections[0].rest_endpoint: required",
    ),
    (
        "wrong type",
        lambda d: conn(d).update(create_missing_users="yes"),
        "braze_connections[0].create_missing_users: expected true or false, got a string",
    ),
    (
        "unknown connection",
        lambda d: sub(d)["channels"][1].update(connection="braze-eu"),
        "subscriptions[0].channels[1].connection: unknown Braze connection 'braze-eu': not in this "
        "file and not configured yet",
    ),
    (
        "duplicate code",
        lambda d: d["subscriptions"].append(dict(sub(d, 1))),
        "subscriptions[2].code: duplicate code 'offers' (also subscriptions[1])",
    ),
    (
        "bad URL",
        lambda d: conn(d).update(rest_endpoint="rest.iad-03.braze.com"),
        "braze_connections[0].rest_endpoint: The REST endpoint must be a full URL starting with "
        "https://",
    ),
    (
        "bad S3 endpoint URL",
        lambda d: conn(d)["s3"].update(endpoint_url="minio:9000"),
        "braze_connections[0].s3.endpoint_url: 'minio:9000' is not an http(s) URL such as "
        "https://s3.example.com",
    ),
    (
        "bad language",
        lambda d: prop(d).update(languages=["en", "esp"]),
        "properties[0].languages[1]: 'esp' is not an ISO 639-1 language code (two letters, e.g. "
        "en, es, pt)",
    ),
    (
        "bad channel",
        lambda d: sub(d)["channels"][0].update(channel="mail"),
        "subscriptions[0].channels[0].channel: 'mail' is not one of: email, push, sms, whatsapp",
    ),
    (
        "bad group id",
        lambda d: sub(d)["channels"][0].update(subscription_group_id="12345"),
        "subscriptions[0].channels[0].subscription_group_id: '12345' is not a Braze subscription "
        "group id (a UUID such as 3b2c1d4e-0000-4000-8000-000000000001)",
    ),
    (
        "unknown key",
        lambda d: prop(d).update(allowed_origin=["https://www.acme.com"]),
        "properties[0].allowed_origin: unknown key 'allowed_origin'; did you mean "
        "'allowed_origins'?",
    ),
    (
        "unknown section",
        lambda d: d.update(topics=[]),
        "topics: unknown section 'topics'; expected one of: "
        + ", ".join(sorted(s.name for s in sections())),
    ),
    (
        "bad origin",
        lambda d: prop(d).update(allowed_origins=["https://www.acme.com/shop"]),
        "properties[0].allowed_origins[0]: 'https://www.acme.com/shop' must be scheme://host[:port] "
        "without a path (an origin, not a page)",
    ),
    (
        "short HS256 secret",
        lambda d: prop(d)["signing_keys"][0].update(secret="tooshort"),
        "properties[0].signing_keys[0].secret: must be at least 32 characters: anyone holding one "
        "token can guess a short HS256 secret offline and then sign tokens for any visitor",
    ),
    (
        "redacted secret of a new object",
        lambda d: d["braze_connections"].append(dict(conn(d), code="braze-eu", api_key=REDACTED)),
        "braze_connections[2].api_key: give the secret; a redacted value only keeps an existing one",
    ),
    (
        "unknown subscription shown",
        lambda d: prop(d).update(subscriptions=["newsleter"]),
        "properties[0].subscriptions[0]: unknown subscription 'newsleter': not in this file and not "
        "configured yet",
    ),
    (
        "theme injection",
        lambda d: prop(d).update(theme={"accent": "red}</style><script>"}),
        "properties[0].theme.accent: must not contain ; { } < > or backslashes",
    ),
    (
        "token ttl",
        lambda d: prop(d).update(token_max_ttl=86400),
        "properties[0].token_max_ttl: must be between 60 and 3600, got 86400",
    ),
    (
        "no English name",
        lambda d: sub(d).update(name={"es": "Boletín"}),
        "subscriptions[0].name: needs an English text: a string, or a map with an 'en' entry",
    ),
    (
        "private key",
        lambda d: prop(d)["signing_keys"][1].update(
            public_key="-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----"
        ),
        "properties[0].signing_keys[1].public_key: this is a private key: give only the public key "
        "(keep the private key secret)",
    ),
    (
        "not a mapping",
        lambda d: d.update(subscriptions=[["newsletter"]]),
        "subscriptions[0]: expected a mapping, got a list",
    ),
]


def refused(deps: Deps, doc: Any, *, prune: bool = False) -> str:
    """Apply, expect a refusal, and prove not a single row anywhere changed."""
    counts, rows = row_counts(deps), snapshot(deps)
    with pytest.raises(ValidationError) as caught:
        apply_configuration(deps, doc, dry_run=False, prune=prune, actor="test")
    assert row_counts(deps) == counts
    assert snapshot(deps) == rows
    return str(caught.value)


@pytest.fixture
def configured(deps: Deps) -> Deps:
    apply_configuration(deps, sample_document(), dry_run=False, prune=False, actor="seed")
    return deps


@pytest.mark.parametrize(("name", "change", "message"), CASES, ids=[c[0] for c in CASES])
def test_invalid_configuration_is_refused_whole(
    configured: Deps, name: str, change: Callable[[Doc], None], message: str
) -> None:
    doc = sample_document()
    doc["properties"][0]["name"] = "A valid change that must not be written either"
    doc["braze_connections"].append(copy.deepcopy(conn(doc)) | {"code": "braze-new"})  # valid
    change(doc)
    assert refused(configured, doc) == message


def test_invalid_configuration_on_an_empty_database(deps: Deps) -> None:
    doc = sample_document()
    sub(doc)["channels"][0]["subscription_group_id"] = "3b2c…"
    assert refused(deps, doc).startswith("subscriptions[0].channels[0].subscription_group_id:")
    assert sum(row_counts(deps).values()) == 0


def test_disallowed_braze_host(configured: Deps, strict_deps: Deps) -> None:
    doc = sample_document()
    conn(doc)["rest_endpoint"] = "https://169.254.169.254"
    assert refused(strict_deps, doc) == (
        "braze_connections[0].rest_endpoint: 169.254.169.254 is not a Braze REST endpoint; use "
        "the one shown for your instance (e.g. https://rest.iad-01.braze.com or "
        "https://rest.fra-01.braze.eu)"
    )


def test_undefined_variable(configured: Deps, tmp_path: Path) -> None:
    counts, rows = row_counts(configured), snapshot(configured)
    path = tmp_path / "optline.yaml"
    path.write_text(SAMPLE_YAML)
    environ = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "ACME_SIGNING_SECRET": "z"}
    with pytest.raises(ValidationError) as caught:
        read_configuration_file(str(path), environ)
    assert str(caught.value) == "braze_connections[0].api_key: undefined variable ${BRAZE_API_KEY}"
    assert row_counts(configured) == counts and snapshot(configured) == rows


def test_many_errors_are_reported_together_and_nothing_is_written(configured: Deps) -> None:
    doc = sample_document()
    for _, change, _ in CASES[1:9]:  # eight independent mistakes
        change(doc)
    message = refused(configured, doc)
    assert len(message.split("; ")) == 8


def test_prune_that_would_orphan_is_refused(configured: Deps) -> None:
    assert refused(configured, {"braze_connections": []}, prune=True).startswith(
        "braze_connections: prune would delete braze_connection braze-main, still used by"
    )


def test_document_that_is_not_a_mapping(configured: Deps) -> None:
    assert refused(configured, ["braze_connections"]) == (
        "expected a mapping of sections, got a list"
    )
