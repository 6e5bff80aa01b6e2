"""Every BrazeClient method against the Braze fake over HTTP: results, errors and paging."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests

from backend.domain.errors import PermanentError, RetryableError
from backend.integrations.braze import BrazeClient, to_item_errors
from tests.fakes.braze_fake import BrazeFake, Fault

pytestmark = pytest.mark.integration

# -- users/track ---------------------------------------------------------------------------------


def test_track_creates_and_updates_profiles(braze_fake: BrazeFake, braze: BrazeClient) -> None:
    result = braze.users_track(
        attributes=[{"external_id": "u1", "email": "ann@example.com", "first_name": "Ann"}],
        events=[{"external_id": "u1", "name": "signed_up", "time": "2024-05-01T10:00:00Z"}],
    )
    assert result.ok
    assert result.processed == {"attributes": 1, "events": 1}
    assert result.rate.limit == 3000 and result.rate.remaining == 2999
    assert result.rate.reset_at is not None and result.rate.reset_at >= time.time()
    user = braze_fake.user("u1")
    assert user is not None
    assert user["attributes"] == {"email": "ann@example.com", "first_name": "Ann"}
    assert [e["name"] for e in user["events"]] == ["signed_up"]


def test_partial_errors_map_to_item_errors_with_the_right_index(
    braze_fake: BrazeFake, braze: BrazeClient
) -> None:
    result = braze.users_track(
        attributes=[
            {"external_id": "ok-1", "first_name": "A"},
            {"external_id": "bad-email", "email": "not-an-email"},
            {"external_id": "ok-2", "email_subscribe": "opted_in"},
            {"first_name": "nobody"},
        ],
        purchases=[
            {"external_id": "ok-1", "product_id": "p", "currency": "USD", "price": 1,
             "time": "2024-01-01T00:00:00Z", "quantity": 0},
        ],
    )  # fmt: skip
    assert result.processed == {"attributes": 2, "purchases": 0}
    assert [(e.input_array, e.index) for e in result.errors] == [
        ("attributes", 1),
        ("attributes", 3),
        ("purchases", 0),
    ]
    assert (
        result.errors[0].message == "The value provided for the 'email' field is not a valid email."
    )
    assert result.errors[2].message == "'quantity' is not valid"
    assert braze_fake.user("ok-2") is not None
    assert braze_fake.user("bad-email") is None


def test_all_invalid_batch_raises_permanent_error_with_items(braze: BrazeClient) -> None:
    with pytest.raises(PermanentError) as info:
        braze.users_track(attributes=[{"first_name": "x"}, {"external_id": "u", "email": "bad"}])
    assert info.value.status == 400
    assert "Valid data must be provided" in str(info.value)
    items = to_item_errors(info.value.errors)
    assert [(i.input_array, i.index) for i in items] == [("attributes", 0), ("attributes", 1)]


def test_fake_enforces_the_limit_our_guard_keeps(braze_fake: BrazeFake) -> None:
    # The client refuses 76 objects itself; the fake must still refuse them from other callers.
    response = requests.post(
        braze_fake.url + "/users/track",
        json={"attributes": [{"external_id": "u"}] * 76},
        headers={"Authorization": f"Bearer {braze_fake.api_key}"},
        timeout=5,
    )
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Max Input Length Exceeded"},
    )


# -- auth and permissions --------------------------------------------------------------------------


def test_bad_key_is_a_401_in_words(braze_fake: BrazeFake) -> None:
    client = BrazeClient(rest_endpoint=braze_fake.url, api_key="wrong-key-123")
    with pytest.raises(PermanentError) as info:
        client.users_track(attributes=[{"external_id": "u"}])
    assert info.value.status == 401
    assert "Braze rejected the API key (401)" in str(info.value)
    assert "wrong-key-123" not in str(info.value)


def test_missing_permission_is_a_403_naming_it(braze_fake: BrazeFake) -> None:
    braze_fake.add_key("narrow-key", {"segments.list"})
    with BrazeClient(rest_endpoint=braze_fake.url, api_key="narrow-key") as client:
        assert client.segments_list() == []
        with pytest.raises(PermanentError) as info:
            client.subscription_status_set("g", "subscribed", external_ids=["u"])
    assert info.value.status == 403
    assert "The API key lacks the 'subscription.status.set' permission" in str(info.value)
    assert "Access Denied" in str(info.value)


# -- retryable failures ---------------------------------------------------------------------------


def test_scripted_429_with_reset_gives_retry_after_close_to_reset(
    braze_fake: BrazeFake, braze: BrazeClient
) -> None:
    braze_fake.script("/users/track", [Fault(status=429, reset_in=3.0)])
    with pytest.raises(RetryableError) as info:
        braze.users_track(attributes=[{"external_id": "u"}])
    assert info.value.status == 429
    assert info.value.retry_after is not None
    assert 2.0 <= info.value.retry_after <= 4.0
    assert braze.last_rate_limit is not None and braze.last_rate_limit.remaining == 0
    braze.users_track(attributes=[{"external_id": "u"}])  # the fault was used up


def test_real_bucket_exhaustion_is_a_429_until_the_window_ends(
    braze_fake: BrazeFake, braze: BrazeClient
) -> None:
    braze_fake.set_rate_limit("users.track", 2, 1.0)
    braze.users_track(attributes=[{"external_id": "a"}])
    second = braze.users_track(attributes=[{"external_id": "b"}])
    assert second.rate.remaining == 0
    with pytest.raises(RetryableError) as info:
        braze.users_track(attributes=[{"external_id": "c"}])
    assert info.value.retry_after is not None and 0 <= info.value.retry_after <= 2.0
    # Other buckets are not affected.
    braze.subscription_status_set("g", "subscribed", external_ids=["a"])
    time.sleep(info.value.retry_after + 0.1)
    braze.users_track(attributes=[{"external_id": "c"}])
    assert braze_fake.user("c") is not None


def test_scripted_500_is_retryable_then_recovers(braze_fake: BrazeFake, braze: BrazeClient) -> None:
    braze_fake.script("/segments/list", [Fault(status=500), Fault(status=503)])
    for status in (500, 503):
        with pytest.raises(RetryableError) as info:
            braze.segments_list()
        assert info.value.status == status
    assert braze.segments_list() == []
    assert [r.status for r in braze_fake.requests_to("/segments/list")] == [500, 503, 200]


def test_slow_braze_hits_the_client_timeout(braze_fake: BrazeFake) -> None:
    braze_fake.script("/segments/list", [Fault(delay=1.0)])
    client = BrazeClient(rest_endpoint=braze_fake.url, api_key=braze_fake.api_key, timeout=0.2)
    with pytest.raises(RetryableError) as info:
        client.segments_list()
    assert info.value.status is None


def test_fail_all_until_cleared(braze_fake: BrazeFake, braze: BrazeClient) -> None:
    braze_fake.fail_all("/email/status", 502)
    for _ in range(3):
        with pytest.raises(RetryableError):
            braze.email_status(["a@example.com"], "unsubscribed")
    braze_fake.clear_faults()
    braze.email_status(["a@example.com"], "unsubscribed")
    assert "a@example.com" in braze_fake.unsubscribed_emails


# -- subscription groups --------------------------------------------------------------------------


def test_subscription_set_get_and_user_status(braze_fake: BrazeFake, braze: BrazeClient) -> None:
    braze_fake.add_subscription_group("news", "email", "Newsletter")
    braze_fake.add_subscription_group("deals", "email", "Deals")
    braze.users_track(attributes=[{"external_id": "u1", "email": "ann@example.com"}])
    braze.subscription_status_set("news", "subscribed", external_ids=["u1"])
    braze.subscription_status_set("deals", "unsubscribed", emails=["ann@example.com"])

    assert braze_fake.group_state("news", external_id="u1") == "subscribed"
    assert braze_fake.group_state("deals", email="ann@example.com") == "unsubscribed"
    assert braze.subscription_status_get("news", external_ids=["u1", "nobody"]) == {
        "u1": "subscribed",
        "nobody": "unknown",
    }
    statuses = braze.subscription_user_status(external_ids=["u1"])
    assert {(s.external_id, s.email, s.group_id, s.state, s.name) for s in statuses} == {
        ("u1", "ann@example.com", "news", "subscribed", "Newsletter"),
        ("u1", "ann@example.com", "deals", "unsubscribed", "Deals"),
    }


def test_user_status_in_the_older_documented_shape(
    braze_fake: BrazeFake, braze: BrazeClient
) -> None:
    braze_fake.configure_flag("--sub-user-status-shape=docs")
    braze.subscription_status_set("news", "unsubscribed", external_ids=["u1"])
    statuses = braze.subscription_user_status(external_ids=["u1"])
    assert [(s.external_id, s.group_id, s.state) for s in statuses] == [
        ("u1", "news", "unsubscribed")
    ]


def test_strict_groups_reject_unknown_ids(braze_fake: BrazeFake, braze: BrazeClient) -> None:
    braze_fake.strict_groups = True
    with pytest.raises(PermanentError) as info:
        braze.subscription_status_set("no-such-group", "subscribed", external_ids=["u"])
    assert info.value.status == 400
    assert "no-such-group" in str(info.value)


def test_subscription_v2_sets_several_groups(braze_fake: BrazeFake, braze: BrazeClient) -> None:
    braze_fake.add_subscription_group("sms-1", "sms")
    braze.subscription_status_set_v2(
        [
            {"subscription_group_id": "news", "subscription_state": "subscribed",
             "emails": ["a@example.com"]},
            {"subscription_group_id": "sms-1", "subscription_state": "unsubscribed",
             "phones": ["+15555550100"]},
        ]
    )  # fmt: skip
    assert braze_fake.group_state("news", email="a@example.com") == "subscribed"
    assert braze_fake.group_state("sms-1", phone="+15555550100") == "unsubscribed"


# -- delete, aliases, export ----------------------------------------------------------------------


def test_alias_export_and_delete(braze_fake: BrazeFake, braze: BrazeClient) -> None:
    braze.users_track(
        attributes=[{"external_id": "u1", "email": "ann@example.com", "plan": "gold"}],
        purchases=[{"external_id": "u1", "product_id": "p1", "currency": "USD", "price": 5,
                    "quantity": 2, "time": "2024-02-01T00:00:00Z"}],
    )  # fmt: skip
    assert (
        braze.users_alias_new([{"external_id": "u1", "alias_name": "a-1", "alias_label": "crm"}])
        == 1
    )
    assert braze.users_alias_new([{"alias_name": "anon-9", "alias_label": "crm"}]) == 1
    assert braze_fake.user(alias=("anon-9", "crm")) is not None

    exported = braze.users_export_ids(
        external_ids=["u1", "ghost"],
        fields_to_export=[
            "external_id",
            "email",
            "custom_attributes",
            "user_aliases",
            "purchases",
            "phone",
        ],
    )
    assert exported == [
        {
            "external_id": "u1",
            "email": "ann@example.com",
            "custom_attributes": {"plan": "gold"},
            "user_aliases": [{"alias_name": "a-1", "alias_label": "crm"}],
            "purchases": [{"name": "p1", "first": "2024-02-01T00:00:00Z",
                           "last": "2024-02-01T00:00:00Z", "count": 1}],
        }
    ]  # fmt: skip
    assert braze_fake.requests_to("/users/export/ids")[-1].status == 201
    assert braze.users_export_ids(email="ann@example.com", fields_to_export=["external_id"]) == [
        {"external_id": "u1"}
    ]

    assert braze.users_delete(external_ids=["u1"]) == 1
    assert braze_fake.user("u1") is None
    assert braze.users_delete(user_aliases=[{"alias_name": "anon-9", "alias_label": "crm"}]) == 1
    assert braze_fake.users == {}


def test_delete_by_email_uses_prioritization(braze_fake: BrazeFake, braze: BrazeClient) -> None:
    braze_fake.add_user("u1", attributes={"email": "x@example.com"})
    braze_fake.add_user(None, attributes={"email": "x@example.com"})
    braze.users_delete(emails=["x@example.com"], email_prioritization=["unidentified"])
    remaining = list(braze_fake.users.values())
    assert [u["external_id"] for u in remaining] == ["u1"]


def test_segment_export_returns_prefix_and_calls_the_hook(
    braze_fake: BrazeFake, braze: BrazeClient
) -> None:
    braze_fake.add_segment("seg-1", "Everyone", ["u1", "u2"])
    braze_fake.add_user("u1", attributes={"email": "a@example.com", "tier": "gold"})
    calls: list[tuple[str, str, dict[str, Any]]] = []
    braze_fake.on_segment_export = lambda seg, prefix, body: calls.append((seg, prefix, body))

    prefix = braze.users_export_segment(
        "seg-1", ["external_id", "email"], custom_attributes_to_export=["tier"]
    )
    assert calls == [
        ("seg-1", prefix, {"segment_id": "seg-1", "fields_to_export": ["external_id", "email"],
                           "output_format": "gzip", "custom_attributes_to_export": ["tier"]})
    ]  # fmt: skip
    uuid_part, _, ts = prefix.rpartition("-")
    assert len(uuid_part) == 36 and abs(int(ts) - time.time()) < 60
    assert braze_fake.export_users("seg-1", ["external_id", "email"], ["tier"]) == [
        {"external_id": "u1", "email": "a@example.com", "custom_attributes": {"tier": "gold"}},
        {"external_id": "u2"},
    ]


def test_segment_export_to_unknown_segment_is_permanent(braze: BrazeClient) -> None:
    with pytest.raises(PermanentError):
        braze.users_export_segment("nope", ["external_id"])


# -- paging ---------------------------------------------------------------------------------------


def test_segments_are_paged_by_100(braze_fake: BrazeFake, braze: BrazeClient) -> None:
    for n in range(250):
        braze_fake.add_segment(f"s{n:03}", f"Segment {n}")
    ids = [s["id"] for s in braze.iter_segments()]
    assert ids == [f"s{n:03}" for n in range(250)]
    pages = [r.query["page"] for r in braze_fake.requests_to("/segments/list")]
    assert pages == [["0"], ["1"], ["2"]]


def test_exactly_full_last_page_needs_one_more_request(
    braze_fake: BrazeFake, braze: BrazeClient
) -> None:
    for n in range(100):
        braze_fake.add_segment(f"s{n}", "x")
    assert len(list(braze.iter_segments())) == 100
    assert len(braze_fake.requests_to("/segments/list")) == 2


def test_unsubscribes_are_paged_until_a_short_page(
    braze_fake: BrazeFake, braze: BrazeClient
) -> None:
    base = datetime(2024, 3, 1, 12, tzinfo=UTC)
    for n in range(12):
        braze_fake.add_unsubscribe(f"user{n:02}@example.com", base + timedelta(minutes=n))
    braze_fake.add_unsubscribe("old@example.com", datetime(2023, 1, 1, tzinfo=UTC))
    rows = list(braze.iter_email_unsubscribes(date(2024, 3, 1), date(2024, 3, 2), page_size=5))
    assert [r["email"] for r in rows] == [f"user{n:02}@example.com" for n in range(12)]
    assert rows[0]["unsubscribed_at"].startswith("2024-03-01T12:00:00")
    offsets = [r.query["offset"] for r in braze_fake.requests_to("/email/unsubscribes")]
    assert offsets == [["0"], ["5"], ["10"]]
    newest_first = braze.email_unsubscribes("2024-03-01", "2024-03-01", limit=2)
    assert [r["email"] for r in newest_first] == ["user11@example.com", "user10@example.com"]


def test_email_status_and_blocklist(braze_fake: BrazeFake, braze: BrazeClient) -> None:
    braze.users_track(attributes=[{"external_id": "u1", "email": "ann@example.com"}])
    braze.email_status(["ann@example.com"], "unsubscribed")
    user = braze_fake.user("u1")
    assert user is not None and user["attributes"]["email_subscribe"] == "unsubscribed"
    braze.email_status(["ann@example.com"], "opted_in")
    assert "ann@example.com" not in braze_fake.unsubscribed_emails
    braze.email_blocklist(["spam@example.com"])
    assert braze_fake.blocklisted_emails == {"spam@example.com"}
    assert "spam@example.com" in braze_fake.unsubscribed_emails


# -- Test connection ------------------------------------------------------------------------------


def test_check_access_with_a_full_key_changes_nothing(
    braze_fake: BrazeFake, braze: BrazeClient
) -> None:
    checks = braze.check_access()
    assert [(c.permission, c.ok, c.message) for c in checks] == [
        ("segments.list", True, "ok"),
        ("email.unsubscribe", True, "ok"),
        ("subscription.groups.get", True, "ok"),
        ("users.export.ids", True, "ok"),
        ("users.track", True, "ok"),
    ]
    assert braze_fake.users == {}
    assert all(200 <= r.status < 300 for r in braze_fake.requests)


def test_check_access_reports_exactly_the_missing_permissions(braze_fake: BrazeFake) -> None:
    braze_fake.add_key("partial", {"segments.list", "users.track", "users.export.ids"})
    with BrazeClient(rest_endpoint=braze_fake.url, api_key="partial") as client:
        checks = client.check_access()
    assert {c.permission: (c.ok, c.message) for c in checks} == {
        "segments.list": (True, "ok"),
        "email.unsubscribe": (False, "missing permission"),
        "subscription.groups.get": (False, "missing permission"),
        "users.export.ids": (True, "ok"),
        "users.track": (True, "ok"),
    }


def test_check_access_stops_at_a_rejected_key(braze_fake: BrazeFake) -> None:
    with BrazeClient(rest_endpoint=braze_fake.url, api_key="not-a-key") as client:
        checks = client.check_access()
    assert [(c.permission, c.ok, c.message) for c in checks] == [
        ("segments.list", False, "API key rejected")
    ]
    assert len(braze_fake.requests) == 1


def test_check_access_reports_unreachable_braze(braze_fake: BrazeFake) -> None:
    braze_fake.script("/segments/list", [Fault(delay=1.0)])
    with BrazeClient(rest_endpoint=braze_fake.url, api_key=braze_fake.api_key, timeout=0.2) as c:
        checks = c.check_access()
    assert len(checks) == 1
    assert not checks[0].ok
    assert checks[0].message.startswith("Braze unreachable: ")
