"""Save requests, changed choices, global states, the widget view and the UI texts."""

from __future__ import annotations

import pytest

from backend.domain.email_codes import parse_code_request, parse_verify_request
from backend.domain.errors import ValidationError
from backend.domain.preferences import (
    MAX_CHANGES,
    Change,
    ChannelSpec,
    Current,
    TopicSpec,
    mask_email,
    parse_save,
    plan_changes,
    plan_globals,
    topics_view,
)
from backend.domain.texts import CATALOGUE, choose_language, texts_for

TOPICS = [
    TopicSpec(1, "newsletter", {"en": "Newsletter", "es": "Boletín"}, {"en": "News"}, 3,
              (ChannelSpec("email", 1, "g1"), ChannelSpec("sms", 1, "g2"))),
    TopicSpec(2, "offers", {"en": "Offers"}, {}, 1, (ChannelSpec("push", 1, "g3"),)),
]  # fmt: skip


ONE = {"subscription": "a", "channel": "b", "state": "subscribed"}


def paths(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [e.path for e in exc.value.errors]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([], "body"),
        ({}, "property"),
        ({"property": 5}, "property"),
        ({"property": "x" * 65}, "property"),
        ({"property": "p", "changes": {}}, "changes"),
        ({"property": "p", "changes": [1]}, "changes[0]"),
        ({"property": "p", "changes": [ONE | {"state": "on"}]}, "changes[0].state"),
        ({"property": "p", "changes": [ONE | {"subscription": 1}]}, "changes[0].subscription"),
        ({"property": "p", "unsubscribe_all": "yes"}, "unsubscribe_all"),
        ({"property": "p", "language": 7}, "language"),
        ({"property": "p", "changes": [ONE] * (MAX_CHANGES + 1)}, "changes"),
    ],
)  # fmt: skip
def test_bad_save_requests_name_the_field(body: object, path: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_save(body)
    assert path in [p or "body" for p in paths(exc)] or any(p.startswith(path) for p in paths(exc))


def test_unknown_topics_and_channels_are_refused() -> None:
    changes = [Change("nope", "email", "subscribed"), Change("offers", "email", "subscribed")]
    with pytest.raises(ValidationError) as exc:
        plan_changes(TOPICS, {}, changes)
    assert paths(exc) == ["changes[0].subscription", "changes[1].channel"]


def test_only_real_changes_are_planned_and_the_last_word_wins() -> None:
    current = {("newsletter", "email"): Current("subscribed", "synced")}
    changes = [
        Change("newsletter", "email", "subscribed"),  # same as now: nothing
        Change("newsletter", "sms", "subscribed"),
        Change("newsletter", "sms", "unsubscribed"),  # never chosen: an explicit opt-out counts
    ]
    assert plan_changes(TOPICS, current, changes) == [Change("newsletter", "sms", "unsubscribed")]


def test_unsubscribe_all_covers_every_channel_not_already_off() -> None:
    current = {("newsletter", "email"): Current("unsubscribed", "synced")}
    planned = plan_changes(
        TOPICS, current, [Change("offers", "push", "subscribed")], unsubscribe_all=True
    )
    assert planned == [
        Change("newsletter", "sms", "unsubscribed"),
        Change("offers", "push", "unsubscribed"),
    ]


def test_global_states_follow_unsubscribe_all_and_a_later_opt_in() -> None:
    assert plan_globals([], {}, unsubscribe_all=True) == [
        ("email_subscribe", "unsubscribed"),
        ("push_subscribe", "unsubscribed"),
    ]
    off = {"email_subscribe": "unsubscribed", "push_subscribe": "unsubscribed"}
    assert plan_globals([], off, unsubscribe_all=True) == []
    assert (
        plan_globals([Change("newsletter", "sms", "subscribed")], off, unsubscribe_all=False) == []
    )
    assert plan_globals(
        [Change("newsletter", "email", "subscribed")], off, unsubscribe_all=False
    ) == [("email_subscribe", "subscribed")]


def test_the_view_shows_never_chosen_channels_as_unsubscribed_in_the_language() -> None:
    view = topics_view(TOPICS, {("newsletter", "sms"): Current("subscribed", "pending")}, "es")
    assert view[0]["name"] == "Boletín" and view[0]["description"] == "News"
    assert view[0]["channels"] == [
        {
            "channel": "email",
            "label": "Correo electrónico",
            "state": "unsubscribed",
            "sync_status": None,
        },
        {"channel": "sms", "label": "SMS", "state": "subscribed", "sync_status": "pending"},
    ]
    assert view[1]["name"] == "Offers"


def test_emails_are_masked() -> None:
    assert mask_email("jane@example.com") == "j***@example.com"
    assert mask_email(None) is None and mask_email("nope") is None


def test_languages_fall_back_to_the_property_first() -> None:
    assert choose_language("es", ["en", "es"]) == "es"
    assert choose_language("es-MX", ["en", "es"]) == "es"
    assert choose_language("fr", ["es", "en"]) == "es"
    assert choose_language(None, []) == "en"


def test_english_and_spanish_texts_are_complete() -> None:
    assert set(CATALOGUE["en"]) == set(CATALOGUE["es"])
    assert all(v.strip() for lang in ("en", "es") for v in CATALOGUE[lang].values())
    en, es = texts_for("en"), texts_for("es")
    assert en["save"] == "Save preferences" and en["saved"] == "Preferences saved"
    assert es["save"] != en["save"]
    assert not any(k.startswith("mail_") for k in en)
    for key in ("title", "intro", "unsubscribe_all", "unsubscribe_all_hint", "pending", "synced",
                "failed", "error_generic", "email_prompt", "email_send", "code_prompt",
                "code_verify", "code_sent", "code_invalid", "signed_out", "close", "open",
                "channel_email", "channel_sms", "channel_push", "channel_whatsapp",
                "access_request", "erasure_request"):  # fmt: skip
        assert key in en and key in es


def test_email_code_requests_are_checked() -> None:
    assert (
        parse_code_request({"property": "p", "email": " Jane@Example.COM "}).email
        == "jane@example.com"
    )
    assert (
        parse_verify_request({"property": "p", "email": "a@b.co", "code": 12345}).code == "012345"
    )
    for bad in ({"property": "p", "email": "nope"}, {"property": "p"}, {"email": "a@b.co"}):
        with pytest.raises(ValidationError):
            parse_code_request(bad)
    with pytest.raises(ValidationError):
        parse_verify_request({"property": "p", "email": "a@b.co", "code": "12a456"})
