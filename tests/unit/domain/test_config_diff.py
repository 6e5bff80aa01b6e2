from dataclasses import replace

from backend.domain.config_connections import SECTION as CONNECTIONS
from backend.domain.config_diff import Change, changed_fields, diff, diff_section
from backend.domain.config_document import (
    ConfigDocument,
    keep_secrets,
    parse_document,
    redact,
    serialise_specs,
)
from backend.domain.config_properties import SECTION as PROPERTIES
from backend.domain.config_specs import REDACTED
from backend.domain.config_subscriptions import SECTION as SUBSCRIPTIONS
from tests.config_samples import API_KEY, sample_document


def stored_state(doc: ConfigDocument) -> dict[str, dict[str, object]]:
    return {name: {s.code: s for s in specs} for name, specs in doc.sections.items()}


def test_everything_is_created_against_an_empty_store() -> None:
    doc = parse_document(sample_document())
    changes = diff({}, doc, prune=False)
    assert [(c.kind, c.code, c.action) for c in changes] == [
        ("braze_connection", "braze-main", "created"),
        ("subscription", "newsletter", "created"),
        ("subscription", "offers", "created"),
        ("property", "acme-web", "created"),
    ]


def test_the_same_specs_are_unchanged() -> None:
    doc = parse_document(sample_document())
    assert {c.action for c in diff(stored_state(doc), doc, prune=True)} == {"unchanged"}


def test_changed_fields_are_named_in_file_order() -> None:
    doc = parse_document(sample_document())
    raw = sample_document()
    raw["properties"][0]["languages"] = ["en"]
    raw["properties"][0]["allowed_origins"] = ["https://acme.com"]
    raw["braze_connections"][0]["api_key"] = "another-key"
    changes = diff(stored_state(doc), parse_document(raw), prune=False)
    by_code = {c.code: c for c in changes}
    assert by_code["acme-web"] == Change(
        "properties", "property", "acme-web", "changed", ("allowed_origins", "languages")
    )
    assert by_code["braze-main"].fields == ("api_key",)
    assert by_code["newsletter"].action == "unchanged"


def test_channel_order_and_group_are_changes_of_channels() -> None:
    current = parse_document(sample_document()).subscriptions[0]
    desired = replace(current, channels=tuple(reversed(current.channels)))
    assert changed_fields(SUBSCRIPTIONS, current, desired) == ("channels",)
    assert changed_fields(SUBSCRIPTIONS, current, replace(current, name={"en": "N"})) == ("name",)


def test_prune_deletes_only_unnamed_objects_of_the_sections_in_the_file() -> None:
    stored = stored_state(parse_document(sample_document()))
    raw = {"subscriptions": [sample_document()["subscriptions"][0]]}
    desired = parse_document(raw, known_connection_codes={"braze-main"})
    assert [(c.code, c.action) for c in diff(stored, desired, prune=False)] == [
        ("newsletter", "unchanged")
    ]
    assert [(c.code, c.action) for c in diff(stored, desired, prune=True)] == [
        ("newsletter", "unchanged"),
        ("offers", "deleted"),
    ]


def test_diff_section_reports_deletions_sorted_by_code() -> None:
    doc = parse_document(sample_document())
    current = {s.code: s for s in doc.subscriptions}
    changes = diff_section(SUBSCRIPTIONS, current, (), prune=True)
    assert [(c.code, c.action) for c in changes] == [
        ("newsletter", "deleted"),
        ("offers", "deleted"),
    ]


def test_redacted_secrets_keep_the_stored_ones_and_compare_unchanged() -> None:
    stored = parse_document(sample_document()).properties[0]
    shown = redact(PROPERTIES, stored)
    assert {k.secret for k in shown.signing_keys} == {REDACTED, None}
    kept = keep_secrets(PROPERTIES, shown, stored)
    assert kept == stored
    assert changed_fields(PROPERTIES, stored, kept) == ()


def test_serialised_specs_are_redacted_and_sorted() -> None:
    doc = parse_document(sample_document())
    listed = serialise_specs(SUBSCRIPTIONS, reversed(doc.subscriptions))
    assert [s["code"] for s in listed] == ["newsletter", "offers"]  # position 0, then 2
    (connection,) = serialise_specs(CONNECTIONS, doc.braze_connections)
    assert connection["api_key"] == REDACTED
    assert connection["s3"]["secret_access_key"] == REDACTED
    assert API_KEY not in repr(connection)
