"""One object at a time: what the admin API and the settings page call."""

from typing import Any

import pytest
from sqlalchemy import select

from backend.db.models import BrazeConnection, BrazeRequestRecord, Property
from backend.domain.config_specs import REDACTED
from backend.domain.errors import ConflictError, NotFoundError, ValidationError
from backend.integrations.braze_responses import AccessCheck
from backend.services import configuration
from backend.services.configuration import (
    apply_configuration,
    create_object,
    delete_object,
    get_object,
    list_audit_entries,
    list_objects,
    list_sandbox_requests,
    put_object,
)
from backend.services.deps import Deps
from tests.config_samples import API_KEY, GROUP_PUSH, row_counts, sample_document, snapshot


@pytest.fixture
def configured(deps: Deps) -> Deps:
    apply_configuration(deps, sample_document(), dry_run=False, prune=False, actor="seed")
    return deps


def newsletter() -> dict[str, Any]:
    return sample_document()["subscriptions"][0]


def test_list_and_get_are_redacted_and_ordered(configured: Deps) -> None:
    assert [s["code"] for s in list_objects(configured, "subscriptions")] == [
        "newsletter",
        "offers",
    ]
    connection = get_object(configured, "braze_connections", "braze-main")
    assert connection["api_key"] == REDACTED
    assert get_object(configured, "subscriptions", "newsletter")["name"]["es"] == "Boletín"
    with pytest.raises(NotFoundError, match="subscription 'nope' does not exist"):
        get_object(configured, "subscriptions", "nope")
    with pytest.raises(NotFoundError, match="unknown kind 'widgets'"):
        list_objects(configured, "widgets")


def test_put_creates_changes_and_is_idempotent(configured: Deps) -> None:
    definition = {
        "name": "Tips",
        "channels": [
            {"channel": "push", "connection": "braze-main", "subscription_group_id": GROUP_PUSH}
        ],
    }
    result, stored = put_object(configured, "subscriptions", definition, actor="api:t", code="tips")
    assert result == "created" and stored["code"] == "tips" and stored["name"] == {"en": "Tips"}
    before = snapshot(configured)
    assert put_object(configured, "subscriptions", definition, actor="t", code="tips")[0] == (
        "unchanged"
    )
    assert snapshot(configured) == before
    definition["name"] = {"en": "Tips", "es": "Consejos"}
    assert put_object(configured, "subscriptions", definition, actor="t", code="tips")[0] == (
        "changed"
    )
    assert list_audit_entries(configured, limit=1)[0]["details"] == {"fields": ["name"]}


def test_put_validates_like_one_file_entry_with_relative_paths(configured: Deps) -> None:
    definition = newsletter()
    definition["channels"][1]["subscription_group_id"] = "nope"
    definition["colour"] = "red"
    with pytest.raises(ValidationError) as caught:
        put_object(configured, "subscriptions", definition, actor="t", code="newsletter")
    assert [(e.path, e.message.split(";")[0]) for e in caught.value.errors] == [
        ("colour", "unknown key 'colour'"),
        (
            "channels[1].subscription_group_id",
            "'nope' is not a Braze subscription group id (a UUID such as "
            "3b2c1d4e-0000-4000-8000-000000000001)",
        ),
    ]


def test_put_refuses_a_rename(configured: Deps) -> None:
    with pytest.raises(ValidationError) as caught:
        put_object(configured, "subscriptions", newsletter(), actor="t", code="news")
    assert caught.value.errors[0].path == "code"
    assert "renaming is not supported" in caught.value.errors[0].message


def test_put_keeps_a_redacted_secret_and_refuses_one_it_cannot_keep(configured: Deps) -> None:
    shown = get_object(configured, "braze_connections", "braze-main")
    before = snapshot(configured)
    assert put_object(configured, "braze_connections", shown, actor="t")[0] == "unchanged"
    assert snapshot(configured) == before
    with pytest.raises(ValidationError) as caught:
        put_object(configured, "braze_connections", shown | {"code": "braze-eu"}, actor="t")
    assert [e.path for e in caught.value.errors] == ["api_key", "s3.secret_access_key"]


def test_create_refuses_an_existing_code(configured: Deps) -> None:
    with pytest.raises(ConflictError, match="subscription 'newsletter' already exists"):
        create_object(configured, "subscriptions", newsletter(), actor="t")
    created = create_object(configured, "subscriptions", newsletter() | {"code": "n2"}, actor="t")
    assert created["code"] == "n2"


def test_delete_refuses_while_referenced_then_deletes(configured: Deps) -> None:
    counts = row_counts(configured)
    with pytest.raises(ConflictError) as caught:
        delete_object(configured, "braze_connections", "braze-main", actor="t")
    assert str(caught.value) == (
        "Braze connection braze-main is still used by subscription newsletter "
        "(channels[0].connection), subscription offers (channels[0].connection); change or "
        "delete those first"
    )
    with pytest.raises(ConflictError, match=r"property acme-web \(subscriptions\[0\]\)"):
        delete_object(configured, "subscriptions", "newsletter", actor="t")
    assert row_counts(configured) == counts
    before_version = config_version(configured)
    delete_object(configured, "subscriptions", "offers", actor="api:t")
    assert config_version(configured) == before_version  # acme-web shows only newsletter
    delete_object(configured, "properties", "acme-web", actor="t")
    delete_object(configured, "subscriptions", "newsletter", actor="t")
    delete_object(configured, "braze_connections", "braze-main", actor="t")
    after = row_counts(configured)
    assert after["braze_connections"] == after["subscriptions"] == after["properties"] == 0
    assert after["signing_keys"] == after["subscription_channels"] == 0
    assert list_audit_entries(configured, limit=1)[0]["action"] == "deleted"
    with pytest.raises(NotFoundError):
        delete_object(configured, "properties", "acme-web", actor="t")


def config_version(deps: Deps) -> int:
    with deps.session() as s:
        return s.scalars(select(Property)).one().config_version


def test_deleting_a_subscription_shown_by_all_bumps_those_properties(configured: Deps) -> None:
    prop = get_object(configured, "properties", "acme-web") | {"subscriptions": None}
    put_object(configured, "properties", prop, actor="t")
    before = config_version(configured)
    delete_object(configured, "subscriptions", "offers", actor="t")
    assert config_version(configured) == before + 1


class RecordingBrazeClient:
    """Stands in for the Braze client; records that it was asked."""

    calls: list[int] = []

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id

    def check_access(self) -> list[AccessCheck]:
        RecordingBrazeClient.calls.append(self.connection_id)
        return [
            AccessCheck("segments.list", True, "ok"),
            AccessCheck("users.track", False, "missing permission"),
        ]


def test_braze_connection_test_reports_each_permission(configured: Deps) -> None:
    RecordingBrazeClient.calls = []
    configured.braze_factory = lambda session, cid: RecordingBrazeClient(cid)  # type: ignore
    checks = configuration.test_braze_connection(configured, "braze-main")
    assert checks == [
        {"permission": "segments.list", "ok": True, "message": "ok"},
        {"permission": "users.track", "ok": False, "message": "missing permission"},
    ]
    assert len(RecordingBrazeClient.calls) == 1
    with pytest.raises(NotFoundError):
        configuration.test_braze_connection(configured, "nope")


def test_sandbox_connection_test_calls_nothing(configured: Deps) -> None:
    RecordingBrazeClient.calls = []
    configured.braze_factory = lambda session, cid: RecordingBrazeClient(cid)  # type: ignore
    sandbox = get_object(configured, "braze_connections", "braze-main") | {"sandbox": True}
    put_object(configured, "braze_connections", sandbox, actor="t")
    (check,) = configuration.test_braze_connection(configured, "braze-main")
    assert check["ok"] is True and "sandbox" in check["message"]
    assert RecordingBrazeClient.calls == []


def test_braze_connection_test_over_http_against_the_fake(deps: Deps) -> None:
    fake_module = pytest.importorskip("tests.fakes.braze_fake")
    with fake_module.BrazeFake() as fake:
        doc = sample_document()
        doc["braze_connections"][0] |= {"rest_endpoint": fake.url, "api_key": fake.api_key}
        apply_configuration(deps, doc, dry_run=False, prune=False, actor="t")
        checks = configuration.test_braze_connection(deps, "braze-main")
        assert checks and all(c["ok"] for c in checks), checks
        doc["braze_connections"][0]["api_key"] = "wrong-key"
        apply_configuration(deps, doc, dry_run=False, prune=False, actor="t")
        assert configuration.test_braze_connection(deps, "braze-main") == [
            {"permission": "segments.list", "ok": False, "message": "API key rejected"}
        ]
    assert API_KEY not in repr(checks)


def test_audit_pages_newest_first(configured: Deps) -> None:
    entries = list_audit_entries(configured, limit=2)
    assert [e["object_code"] for e in entries] == ["acme-web", "offers"]
    older = list_audit_entries(configured, limit=10, before_id=entries[-1]["id"])
    assert [e["object_code"] for e in older] == ["newsletter", "braze-main"]


def test_sandbox_requests_newest_first(configured: Deps) -> None:
    with configured.session() as s:
        cid = s.scalars(select(BrazeConnection.id)).one()
        for path in ("/users/track", "/subscription/status/set"):
            s.add(BrazeRequestRecord(connection_id=cid, method="POST", path=path, body={"a": 1}))
    rows = list_sandbox_requests(configured, "braze-main", limit=10)
    assert [r["path"] for r in rows] == ["/subscription/status/set", "/users/track"]
    assert rows[0]["body"] == {"a": 1} and rows[0]["method"] == "POST"
    assert (
        list_sandbox_requests(configured, "braze-main", limit=1, before_id=rows[0]["id"])[0]["path"]
        == "/users/track"
    )
    with pytest.raises(NotFoundError):
        list_sandbox_requests(configured, "nope")
