from pathlib import Path

import pytest
from sqlalchemy import select, text

from backend.db.models import AuditEntry, Property, Subscription
from backend.domain.config_specs import REDACTED
from backend.domain.errors import ValidationError
from backend.services.configuration import (
    apply_configuration,
    export_configuration,
    read_configuration_file,
)
from backend.services.deps import Deps
from tests.config_samples import (
    ENVIRON,
    GROUP_PUSH,
    SAMPLE_YAML,
    row_counts,
    sample_document,
    snapshot,
)


def apply(deps: Deps, doc: dict, **kwargs: bool) -> list[str]:
    report = apply_configuration(
        deps,
        doc,
        dry_run=kwargs.get("dry_run", False),
        prune=kwargs.get("prune", False),
        actor="test",
    )
    return report.lines()


def test_first_apply_creates_everything_and_reports_it(deps: Deps) -> None:
    assert apply(deps, sample_document()) == [
        "created braze_connection braze-main",
        "created subscription newsletter",
        "created subscription offers",
        "created property acme-web",
        "4 created, 0 changed, 0 unchanged, 0 deleted",
    ]
    with deps.session() as s:
        audit = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(a.action, a.object_type, a.object_code, a.actor) for a in audit] == [
            ("created", "braze_connection", "braze-main", "test"),
            ("created", "subscription", "newsletter", "test"),
            ("created", "subscription", "offers", "test"),
            ("created", "property", "acme-web", "test"),
        ]


def test_second_apply_is_unchanged_and_writes_nothing_at_all(deps: Deps) -> None:
    apply(deps, sample_document())
    before = snapshot(deps)  # every column of every row, updated_at included
    assert apply(deps, sample_document())[-1] == "0 created, 0 changed, 4 unchanged, 0 deleted"
    assert snapshot(deps) == before


def test_dry_run_reports_and_writes_nothing(deps: Deps) -> None:
    before = snapshot(deps)
    report = apply_configuration(deps, sample_document(), dry_run=True, prune=False, actor="t")
    assert report.dry_run and len(report.of("created")) == 4
    assert snapshot(deps) == before
    apply(deps, sample_document())
    changed = sample_document()
    changed["properties"][0]["languages"] = ["en"]
    before = snapshot(deps)
    assert "changed property acme-web (languages)" in apply(deps, changed, dry_run=True)
    assert snapshot(deps) == before


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip_apply_export_apply_is_unchanged(
    deps: Deps, tmp_path: Path, suffix: str
) -> None:
    import json

    import yaml

    source = tmp_path / f"optline{suffix}"
    if suffix == ".yaml":
        source.write_text(SAMPLE_YAML)
    else:
        source.write_text(json.dumps(sample_document()))
    apply(deps, read_configuration_file(str(source), ENVIRON))
    exported = export_configuration(deps)
    again = tmp_path / f"export{suffix}"
    again.write_text(
        yaml.safe_dump(exported, allow_unicode=True) if suffix == ".yaml" else json.dumps(exported)
    )
    before = snapshot(deps)
    lines = apply(deps, read_configuration_file(str(again), {}), prune=True)
    assert all(line.startswith("unchanged") for line in lines[:-1])
    assert lines[-1].startswith("0 created, 0 changed") and lines[-1].endswith("0 deleted")
    assert snapshot(deps) == before
    assert export_configuration(deps) == exported


def test_export_is_complete_stable_and_redacted(deps: Deps) -> None:
    apply(deps, sample_document())
    exported = export_configuration(deps)
    # Referenced kinds come first, so an export applies in one pass.
    assert list(exported)[:3] == ["braze_connections", "subscriptions", "properties"]
    connection = exported["braze_connections"][0]
    assert connection["api_key"] == REDACTED
    assert connection["s3"]["secret_access_key"] == REDACTED
    assert connection["s3"]["access_key_id"] == "AKIAIOSFODNN7EXAMPLE"
    prop = exported["properties"][0]
    assert prop["signing_keys"][0]["kid"] == "ec1" and "public_key" in prop["signing_keys"][0]
    assert prop["signing_keys"][1] == {"kid": "k1", "algorithm": "HS256", "secret": REDACTED}
    assert prop["theme"] == {"accent-color": "#0055ff", "radius": "6px"}
    assert [s["code"] for s in exported["subscriptions"]] == ["newsletter", "offers"]
    assert exported == export_configuration(deps)


def test_a_subscription_in_the_file_is_replaced_exactly(deps: Deps) -> None:
    apply(deps, sample_document())
    doc = {"subscriptions": [sample_document()["subscriptions"][0]]}
    doc["subscriptions"][0]["channels"] = [
        {"channel": "push", "connection": "braze-main", "subscription_group_id": GROUP_PUSH},
        doc["subscriptions"][0]["channels"][0],
    ]
    assert apply(deps, doc) == [
        "changed subscription newsletter (channels)",
        "0 created, 1 changed, 0 unchanged, 0 deleted",
    ]
    with deps.session() as s:
        rows = s.execute(
            text(
                "SELECT c.channel, c.position FROM subscription_channels c "
                "JOIN subscriptions s ON s.id = c.subscription_id WHERE s.code = 'newsletter' "
                "ORDER BY c.position"
            )
        ).all()
    assert [tuple(r) for r in rows] == [("push", 0), ("email", 1)]
    # Objects the file does not name are left alone without --prune.
    assert row_counts(deps)["subscriptions"] == 2


def test_prune_deletes_unnamed_objects_of_the_kinds_in_the_file_only(deps: Deps) -> None:
    apply(deps, sample_document())
    doc = sample_document()
    del doc["subscriptions"][1]
    del doc["properties"]
    lines = apply(deps, doc, prune=True)
    assert "deleted subscription offers" in lines
    assert lines[-1] == "0 created, 0 changed, 2 unchanged, 1 deleted"
    assert row_counts(deps)["properties"] == 1


def test_prune_refuses_to_orphan_a_stored_reference(deps: Deps) -> None:
    apply(deps, sample_document())
    before = snapshot(deps)
    doc = {"braze_connections": [], "properties": [sample_document()["properties"][0]]}
    with pytest.raises(ValidationError) as caught:
        apply(deps, doc, prune=True)
    assert str(caught.value) == (
        "braze_connections: prune would delete braze_connection braze-main, still used by "
        "subscription newsletter (channels[0].connection), subscription offers "
        "(channels[0].connection)"
    )
    assert snapshot(deps) == before


def test_prune_does_not_let_the_file_refer_to_what_it_prunes(deps: Deps) -> None:
    apply(deps, sample_document())
    doc = {"braze_connections": [], "subscriptions": sample_document()["subscriptions"]}
    with pytest.raises(ValidationError) as caught:
        apply(deps, doc, prune=True)
    assert caught.value.errors[0].path == "subscriptions[0].channels[0].connection"


def versions(deps: Deps) -> tuple[int, dict[str, int]]:
    with deps.session() as s:
        prop = s.scalars(select(Property)).one()
        texts = {r.code: r.text_version for r in s.scalars(select(Subscription))}
        return prop.config_version, texts


def test_versions_follow_what_changed(deps: Deps) -> None:
    apply(deps, sample_document())
    assert versions(deps) == (1, {"newsletter": 1, "offers": 1})
    doc = sample_document()
    doc["subscriptions"][1]["position"] = 5  # offers is not shown by acme-web
    apply(deps, doc)
    assert versions(deps) == (1, {"newsletter": 1, "offers": 1})
    doc["subscriptions"][0]["channels"].pop()  # newsletter is shown: the property follows
    apply(deps, doc)
    assert versions(deps) == (2, {"newsletter": 1, "offers": 1})
    doc["subscriptions"][0]["description"] = "Monthly"  # a text: notice version too
    apply(deps, doc)
    assert versions(deps) == (3, {"newsletter": 2, "offers": 1})
    doc["properties"][0]["languages"] = ["en"]
    apply(deps, doc)
    assert versions(deps) == (4, {"newsletter": 2, "offers": 1})
    apply(deps, doc)
    assert versions(deps) == (4, {"newsletter": 2, "offers": 1})


def test_audit_names_changed_fields_only(deps: Deps) -> None:
    apply(deps, sample_document())
    doc = sample_document()
    doc["braze_connections"][0]["api_key"] = "a-new-api-key-value"
    doc["braze_connections"][0]["sandbox"] = True
    apply(deps, doc)
    with deps.session() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert last is not None
        assert (last.action, last.object_code, last.details) == (
            "changed",
            "braze-main",
            {"fields": ["api_key", "sandbox"]},
        )


def test_redacted_secrets_keep_the_stored_values(deps: Deps) -> None:
    apply(deps, sample_document())
    with deps.session() as s:
        stored = s.execute(text("SELECT api_key_encrypted FROM braze_connections")).scalar_one()
    exported = export_configuration(deps)
    assert "0 created, 0 changed" in apply(deps, exported)[-1]
    with deps.session() as s:
        after = s.execute(text("SELECT api_key_encrypted FROM braze_connections")).scalar_one()
    assert after == stored
    assert deps.secrets.decrypt(after) == sample_document()["braze_connections"][0]["api_key"]


def test_new_signing_key_with_redacted_neighbour(deps: Deps) -> None:
    apply(deps, sample_document())
    exported = export_configuration(deps)
    exported["properties"][0]["signing_keys"].append({"kid": "k2", "secret": "z" * 40})
    assert "changed property acme-web (signing_keys)" in apply(deps, exported)
    with deps.session() as s:
        rows = s.execute(text("SELECT kid, secret_encrypted FROM signing_keys ORDER BY kid")).all()
    plain = {kid: deps.secrets.decrypt(c) if c else None for kid, c in rows}
    assert plain["k2"] == "z" * 40
    assert plain["k1"] == sample_document()["properties"][0]["signing_keys"][0]["secret"]
    assert plain["ec1"] is None


def test_unreadable_stored_secret_must_be_given_again(deps: Deps) -> None:
    apply(deps, sample_document())
    with deps.session() as s:
        s.execute(text("UPDATE braze_connections SET api_key_encrypted = 'garbage'"))
    exported = export_configuration(deps)
    with pytest.raises(ValidationError, match="api_key: give the secret"):
        apply(deps, exported)
    assert "changed braze_connection braze-main (api_key)" in apply(deps, sample_document())


def test_an_s3_block_without_a_prefix_survives_the_round_trip(deps: Deps) -> None:
    doc = sample_document()
    connection = doc["braze_connections"][0]
    connection["s3"] = {
        "bucket": "acme-exports",
        "region": "us-east-1",
        "access_key_id": "AKIDEXAMPLE",
        "secret_access_key": "s3-secret-value",
    }
    apply(deps, doc)
    exported = export_configuration(deps)
    assert exported["braze_connections"][0]["s3"]["prefix"] == ""
    lines = apply(deps, exported)
    assert lines[-1].startswith("0 created, 0 changed")
