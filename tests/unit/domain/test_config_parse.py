from collections.abc import Callable
from typing import Any

import pytest

from backend.domain.config_document import parse_document, parse_object
from backend.domain.config_registry import ParseContext, sections
from backend.domain.config_specs import (
    REDACTED,
    BrazeConnectionSpec,
    CaptureSpec,
    ChannelSpec,
    S3Spec,
    SigningKeySpec,
)
from backend.domain.errors import ValidationError
from tests.config_samples import EC_PUBLIC_KEY, GROUP_EMAIL, SIGNING_SECRET, sample_document

Doc = dict[str, Any]
SECTION_NAMES = sorted(s.name for s in sections())


def errors_of(doc: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse_document(doc, **kwargs)
    return [str(e) for e in caught.value.errors]


def conn(doc: Doc) -> Doc:
    return doc["braze_connections"][0]


def prop(doc: Doc) -> Doc:
    return doc["properties"][0]


def sub(doc: Doc, i: int = 0) -> Doc:
    return doc["subscriptions"][i]


def test_the_sample_parses_into_specs() -> None:
    doc = parse_document(sample_document())
    connection = doc.braze_connections[0]
    assert isinstance(connection, BrazeConnectionSpec)
    assert connection.s3 == S3Spec(
        "acme-braze-exports",
        "optline/",
        "us-east-1",
        None,
        "AKIAIOSFODNN7EXAMPLE",
        connection.s3.secret_access_key if connection.s3 else None,
    )
    prop_spec = doc.properties[0]
    # Signing keys are ordered by kid, as they come back from the database.
    assert [k.kid for k in prop_spec.signing_keys] == ["ec1", "k1"]
    assert prop_spec.signing_keys[1] == SigningKeySpec("k1", "HS256", SIGNING_SECRET, None)
    assert prop_spec.identity_capture == (
        CaptureSpec("queue"),
        CaptureSpec("cookie", "optline_token"),
    )
    assert prop_spec.subscriptions == ("newsletter",)
    newsletter, offers = doc.subscriptions
    assert newsletter.name == {"en": "Newsletter", "es": "Boletín"}
    assert offers.name == {"en": "Offers"} and offers.description == {}
    assert newsletter.channels[0] == ChannelSpec("email", "braze-main", GROUP_EMAIL)


def test_defaults_fill_what_a_minimal_file_leaves_out() -> None:
    doc = parse_document(
        {
            "braze_connections": [
                {
                    "code": "b",
                    "name": "B",
                    "api_key": "k",
                    "rest_endpoint": "https://rest.fra-01.braze.eu/",
                }
            ],
            "properties": [{"code": "p", "name": "P"}],
        }
    )
    c = doc.braze_connections[0]
    assert (c.identity, c.sandbox, c.create_missing_users, c.budget_share, c.s3) == (
        "external_id",
        False,
        True,
        0.8,
        None,
    )
    assert c.rest_endpoint == "https://rest.fra-01.braze.eu"
    p = doc.properties[0]
    assert p.languages == ("en",) and p.subscriptions is None and p.token_max_ttl == 3600
    assert p.identity_capture == (CaptureSpec("queue"),) and p.theme == {}
    assert doc.subscriptions == ()


def test_origins_are_normalised_the_way_browsers_send_them() -> None:
    doc = sample_document()
    prop(doc)["allowed_origins"] = [
        "HTTPS://WWW.ACME.COM/",
        "https://shop.acme.com:443",
        "http://localhost:3000",
        "http://127.0.0.1:8000",
        "https://acme.com:8443",
    ]
    assert parse_document(doc).properties[0].allowed_origins == (
        "https://www.acme.com",
        "https://shop.acme.com",
        "http://localhost:3000",
        "http://127.0.0.1:8000",
        "https://acme.com:8443",
    )


def mutate(fn: Callable[[Doc], None]) -> Doc:
    doc = sample_document()
    fn(doc)
    return doc


SHORT = "must be at least 32 characters: anyone holding one token can guess a short HS256 secret "
INVALID = [
    # top level
    (
        lambda d: d.update(colours=[]),
        "colours: unknown section 'colours'; expected one of: " + ", ".join(SECTION_NAMES),
    ),
    (
        lambda d: d.update(propertie=[]),
        "propertie: unknown section 'propertie'; did you mean 'properties'?",
    ),
    (lambda d: d.update(properties={"code": "x"}), "properties: expected a list, got a mapping"),
    # braze_connections
    (lambda d: conn(d).pop("name"), "braze_connections[0].name: required"),
    (
        lambda d: conn(d).update(nmae="x"),
        "braze_connections[0].nmae: unknown key 'nmae'; did you mean 'name'?",
    ),
    (lambda d: conn(d).update(name=""), "braze_connections[0].name: must not be empty"),
    (
        lambda d: conn(d).update(name=42),
        "braze_connections[0].name: expected a string, got a number",
    ),
    (
        lambda d: conn(d).update(sandbox="no"),
        "braze_connections[0].sandbox: expected true or false, got a string",
    ),
    (
        lambda d: conn(d).update(identity="phone"),
        "braze_connections[0].identity: 'phone' is not one of: email, external_id",
    ),
    (
        lambda d: conn(d).update(budget_share=0),
        "braze_connections[0].budget_share: must be more than 0.0 and at most 1.0, got 0",
    ),
    (
        lambda d: conn(d).update(rest_endpoint="https://rest.iad-03.braze.com/users/track"),
        "braze_connections[0].rest_endpoint: The REST endpoint must be the bare host, without a path "
        "such as /users/track",
    ),
    (
        lambda d: conn(d).update(api_key=REDACTED),
        "braze_connections[0].api_key: give the secret; a redacted value only keeps an existing one",
    ),
    (
        lambda d: conn(d).update(api_key="has space"),
        "braze_connections[0].api_key: this value is not valid: no spaces",
    ),
    (lambda d: conn(d)["s3"].pop("bucket"), "braze_connections[0].s3.bucket: required"),
    (
        lambda d: conn(d)["s3"].update(bucket="B"),
        "braze_connections[0].s3.bucket: 'B' is not valid: an S3 bucket name: 3-63 lowercase "
        "letters, digits, '.' and '-'",
    ),
    (
        lambda d: conn(d)["s3"].update(endpoint_url="ftp://x"),
        "braze_connections[0].s3.endpoint_url: 'ftp://x' is not an http(s) URL such as "
        "https://s3.example.com",
    ),
    (
        lambda d: conn(d)["s3"].pop("secret_access_key"),
        "braze_connections[0].s3.secret_access_key: give both access_key_id and secret_access_key, "
        "or neither (to use the machine's AWS credentials)",
    ),
    (
        lambda d: conn(d).update(s3="bucket"),
        "braze_connections[0].s3: expected a mapping, got a string",
    ),
    (
        lambda d: d["braze_connections"].append(dict(conn(d))),
        "braze_connections[1].code: duplicate code 'braze-main' (also braze_connections[0])",
    ),
    # properties
    (
        lambda d: prop(d).update(allowed_origins=["https://www.acme.com/prefs"]),
        "properties[0].allowed_origins[0]: 'https://www.acme.com/prefs' must be scheme://host[:port] "
        "without a path (an origin, not a page)",
    ),
    (
        lambda d: prop(d).update(allowed_origins=["http://www.acme.com"]),
        "properties[0].allowed_origins[0]: 'http://www.acme.com' must use https:// (plain http is "
        "only allowed for localhost)",
    ),
    (
        lambda d: prop(d).update(allowed_origins=["https://*.acme.com"]),
        "properties[0].allowed_origins[0]: 'https://*.acme.com': wildcards are not allowed; list "
        "each origin",
    ),
    (
        lambda d: prop(d).update(allowed_origins=["https://a.com", "https://A.com/"]),
        "properties[0].allowed_origins[1]: duplicate 'https://a.com' (also "
        "properties[0].allowed_origins[0])",
    ),
    (
        lambda d: prop(d).update(languages=["en", "sp"]),
        "properties[0].languages[1]: 'sp' is not an ISO 639-1 language code (two letters, e.g. en, "
        "es, pt)",
    ),
    (
        lambda d: prop(d).update(languages=["EN"]),
        "properties[0].languages[0]: 'EN' must be written in lowercase: 'en'",
    ),
    (lambda d: prop(d).update(languages=[]), "properties[0].languages: list at least one language"),
    (
        lambda d: prop(d).update(signing_keys=[{"kid": "k1", "secret": "short"}]),
        "properties[0].signing_keys[0].secret: " + SHORT + "offline and then sign tokens for any "
        "visitor",
    ),
    (
        lambda d: prop(d).update(signing_keys=[{"kid": "k1", "secret": REDACTED}]),
        "properties[0].signing_keys[0].secret: give the secret; a redacted value only keeps an "
        "existing one",
    ),
    (
        lambda d: prop(d).update(signing_keys=[{"kid": "k1", "algorithm": "HS512", "secret": "x"}]),
        "properties[0].signing_keys[0].algorithm: 'HS512' is not one of: ES256, HS256, RS256",
    ),
    (
        lambda d: prop(d).update(
            signing_keys=[{"kid": "e", "algorithm": "ES256", "secret": SIGNING_SECRET}]
        ),
        "properties[0].signing_keys[0].secret: ES256 keys take a public_key, not a secret\n"
        "properties[0].signing_keys[0].public_key: required",
    ),
    (
        lambda d: prop(d).update(
            signing_keys=[{"kid": "e", "algorithm": "ES256", "public_key": "not a pem"}]
        ),
        "properties[0].signing_keys[0].public_key: expected a PEM public key (-----BEGIN PUBLIC "
        "KEY----- … -----END PUBLIC KEY-----)",
    ),
    (
        lambda d: prop(d).update(
            signing_keys=[
                {
                    "kid": "e",
                    "algorithm": "ES256",
                    "public_key": "-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----",
                }
            ]
        ),
        "properties[0].signing_keys[0].public_key: this is a private key: give only the public key "
        "(keep the private key secret)",
    ),
    (
        lambda d: prop(d).update(
            signing_keys=[
                {"kid": "k", "secret": SIGNING_SECRET},
                {"kid": "k", "secret": SIGNING_SECRET},
            ]
        ),
        "properties[0].signing_keys[1].kid: duplicate kid 'k' (also properties[0].signing_keys[0])",
    ),
    (
        lambda d: prop(d).update(identity_capture=[{"source": "cookie"}]),
        "properties[0].identity_capture[0].key: required",
    ),
    (
        lambda d: prop(d).update(identity_capture=[{"source": "queue", "key": "x"}]),
        "properties[0].identity_capture[0].key: the queue source takes no key",
    ),
    (
        lambda d: prop(d).update(identity_capture=[{"source": "header", "key": "x"}]),
        "properties[0].identity_capture[0].source: 'header' is not one of: cookie, data_layer, "
        "local_storage, query, queue, window",
    ),
    (
        lambda d: prop(d).update(theme={"Accent": "red"}),
        "properties[0].theme.Accent: theme names are lowercase letters, digits and '-' (e.g. "
        "accent-color), starting with a letter",
    ),
    (
        lambda d: prop(d).update(theme={"accent": "red;}body{x:y"}),
        "properties[0].theme.accent: must not contain ; { } < > or backslashes",
    ),
    (
        lambda d: prop(d).update(theme={"accent": 3}),
        "properties[0].theme.accent: expected a string, got a number",
    ),
    (
        lambda d: prop(d).update(token_max_ttl=7200),
        "properties[0].token_max_ttl: must be between 60 and 3600, got 7200",
    ),
    (
        lambda d: prop(d).update(token_max_ttl=True),
        "properties[0].token_max_ttl: expected a whole number, got true/false",
    ),
    (
        lambda d: prop(d).update(subscriptions=["newsletter", "nope"]),
        "properties[0].subscriptions[1]: unknown subscription 'nope': not in this file and not "
        "configured yet",
    ),
    (
        lambda d: prop(d).update(email_verification="yes"),
        "properties[0].email_verification: expected true or false, got a string",
    ),
    # subscriptions
    (
        lambda d: sub(d).update(name={"es": "Boletín"}),
        "subscriptions[0].name: needs an English text: a string, or a map with an 'en' entry",
    ),
    (
        lambda d: sub(d).update(name={"en": "News", "xx": "?"}),
        "subscriptions[0].name.xx: 'xx' is not an ISO 639-1 language code (two letters, e.g. en, "
        "es, pt)",
    ),
    (
        lambda d: sub(d).update(name=["News"]),
        "subscriptions[0].name: expected a string or a map of language to text, got a list",
    ),
    (lambda d: sub(d).pop("channels"), "subscriptions[0].channels: required"),
    (lambda d: sub(d).update(channels=[]), "subscriptions[0].channels: list at least one channel"),
    (
        lambda d: sub(d)["channels"][0].update(channel="fax"),
        "subscriptions[0].channels[0].channel: 'fax' is not one of: email, push, sms, whatsapp",
    ),
    (
        lambda d: sub(d)["channels"][1].update(channel="email"),
        "subscriptions[0].channels[1].channel: duplicate channel 'email' (also "
        "subscriptions[0].channels[0])",
    ),
    (
        lambda d: sub(d)["channels"][0].pop("subscription_group_id"),
        "subscriptions[0].channels[0].subscription_group_id: required",
    ),
    (
        lambda d: sub(d)["channels"][0].update(subscription_group_id="3b2c…"),
        "subscriptions[0].channels[0].subscription_group_id: '3b2c…' is not a Braze subscription "
        "group id (a UUID such as 3b2c1d4e-0000-4000-8000-000000000001)",
    ),
    (
        lambda d: sub(d, 1)["channels"][0].update(connection="braze-eu"),
        "subscriptions[1].channels[0].connection: unknown Braze connection 'braze-eu': not in this "
        "file and not configured yet",
    ),
    (
        lambda d: sub(d).update(position="first"),
        "subscriptions[0].position: expected a whole number, got a string",
    ),
    (
        lambda d: d["subscriptions"].append("newsletter"),
        "subscriptions[2]: expected a mapping, got a string",
    ),
]


@pytest.mark.parametrize(("change", "message"), INVALID)
def test_each_rule_reports_the_path_and_why(change: Callable[[Doc], None], message: str) -> None:
    assert errors_of(mutate(change)) == message.split("\n")


def test_an_invalid_code_is_reported_and_references_to_it_fail_too() -> None:
    doc = sample_document()
    conn(doc)["code"] = "Braze Main"
    errors = errors_of(doc)
    assert errors[0] == (
        "braze_connections[0].code: 'Braze Main' is not valid: lowercase letters, digits, '-' "
        "and '_', starting with a letter or digit, at most 64"
    )
    assert errors[1].startswith("subscriptions[0].channels[0].connection: unknown")


def test_every_error_of_a_file_is_reported_at_once() -> None:
    doc = sample_document()
    conn(doc).pop("name")
    prop(doc)["languages"] = ["xx"]
    sub(doc)["channels"][0]["subscription_group_id"] = "nope"
    sub(doc)["channels"][1]["connection"] = "missing"
    assert len(errors_of(doc)) == 4


def test_a_reference_from_a_broken_entry_is_still_checked() -> None:
    doc = sample_document()
    sub(doc)["name"] = None
    sub(doc)["channels"][0]["connection"] = "missing"
    assert errors_of(doc) == [
        "subscriptions[0].name: required",
        "subscriptions[0].channels[0].connection: unknown Braze connection 'missing': not in "
        "this file and not configured yet",
    ]


def test_a_broken_entry_still_counts_as_named_by_the_file() -> None:
    doc = sample_document()
    conn(doc)["name"] = None  # the connection is invalid, but the subscriptions' reference is fine
    assert errors_of(doc) == ["braze_connections[0].name: required"]


def test_references_may_name_stored_objects() -> None:
    doc = sample_document()
    del doc["braze_connections"]
    sub(doc)["channels"] = [
        {"channel": "email", "connection": "braze-main", "subscription_group_id": GROUP_EMAIL}
    ]
    assert errors_of(doc)[0].startswith("subscriptions[0].channels[0].connection: unknown")
    parsed = parse_document(doc, known_connection_codes={"braze-main"})
    assert parsed.subscriptions[0].channels[0].connection == "braze-main"
    doc2 = {"properties": [{"code": "p", "name": "P", "subscriptions": ["old"]}]}
    assert parse_document(doc2, known_subscription_codes={"old"}).properties[0].subscriptions == (
        "old",
    )


def test_disallowed_braze_host_only_when_custom_endpoints_are_off() -> None:
    doc = sample_document()
    conn(doc)["rest_endpoint"] = "http://127.0.0.1:9999"
    assert parse_document(doc, allow_custom_braze_endpoints=True).braze_connections[0]
    assert errors_of(doc) == [
        "braze_connections[0].rest_endpoint: The REST endpoint must use https://"
    ]
    conn(doc)["rest_endpoint"] = "https://internal.example.com"
    assert errors_of(doc)[0].startswith(
        "braze_connections[0].rest_endpoint: internal.example.com is not a Braze REST endpoint"
    )


def test_redacted_secrets_are_accepted_where_a_stored_one_exists() -> None:
    doc = sample_document()
    conn(doc)["api_key"] = REDACTED
    conn(doc)["s3"]["secret_access_key"] = REDACTED
    prop(doc)["signing_keys"][0]["secret"] = REDACTED
    context = ParseContext(
        stored_secrets=frozenset(
            {
                ("braze_connections", "braze-main", "api_key"),
                ("braze_connections", "braze-main", "s3.secret_access_key"),
                ("properties", "acme-web", "signing_keys.k1"),
            }
        )
    )
    parsed = parse_document(doc, context=context)
    assert parsed.braze_connections[0].api_key == REDACTED
    with pytest.raises(ValidationError) as caught:
        parse_document(doc, context=ParseContext())
    assert [e.path for e in caught.value.errors] == [
        "braze_connections[0].api_key",
        "braze_connections[0].s3.secret_access_key",
        "properties[0].signing_keys[0].secret",
    ]


def test_secret_values_never_appear_in_messages() -> None:
    doc = sample_document()
    prop(doc)["signing_keys"][0]["secret"] = "tiny secret value"
    conn(doc)["api_key"] = "leaky key value"
    text = " ".join(errors_of(doc))
    assert "tiny secret value" not in text and "leaky key value" not in text


def test_public_keys_pass_and_a_key_checker_can_refuse_them() -> None:
    doc = {
        "properties": [
            {
                "code": "p",
                "name": "P",
                "signing_keys": [{"kid": "e", "algorithm": "ES256", "public_key": EC_PUBLIC_KEY}],
            }
        ]
    }
    assert parse_document(doc).properties[0].signing_keys[0].public_key == EC_PUBLIC_KEY
    context = ParseContext(check_public_key=lambda pem, alg: f"not a {alg} key")
    with pytest.raises(ValidationError) as caught:
        parse_document(doc, context=context)
    assert str(caught.value) == "properties[0].signing_keys[0].public_key: not a ES256 key"


def test_the_document_must_be_a_mapping() -> None:
    assert errors_of(["x"]) == ["expected a mapping of sections, got a list"]


def test_a_null_section_says_nothing_and_an_empty_one_is_present() -> None:
    parsed = parse_document({"properties": None, "subscriptions": []})
    assert "properties" not in parsed.sections
    assert parsed.sections["subscriptions"] == ()


def test_parse_object_reports_paths_relative_to_the_object() -> None:
    definition = dict(sample_document()["subscriptions"][0])
    definition["channels"] = [dict(definition["channels"][0], subscription_group_id="x")]
    context = ParseContext(known_codes={"braze_connections": frozenset({"braze-main"})})
    with pytest.raises(ValidationError) as caught:
        parse_object("subscriptions", definition, context)
    assert [e.path for e in caught.value.errors] == ["channels[0].subscription_group_id"]
    with pytest.raises(ValidationError) as caught:
        parse_object("subscriptions", "nope", context)
    assert str(caught.value) == "expected a mapping, got a string"


def test_an_empty_optional_text_means_none() -> None:
    for empty in ("", {}, None):
        doc = sample_document()
        sub(doc)["description"] = empty
        assert parse_document(doc).subscriptions[0].description == {}


def test_texts_put_english_first_and_group_ids_in_lowercase() -> None:
    doc = sample_document()
    sub(doc)["name"] = {"fr": "Lettre", "es": "Boletín", "en": "Newsletter"}
    sub(doc)["channels"][0]["subscription_group_id"] = GROUP_EMAIL.upper()
    parsed = parse_document(doc).subscriptions[0]
    assert list(parsed.name) == ["en", "es", "fr"]
    assert parsed.channels[0].subscription_group_id == GROUP_EMAIL
