"""The Braze fake itself: the gatekeeping, shapes and attribute rules other tests rely on."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

import pytest
import requests

from tests.fakes.braze_fake import BrazeFake, Fault

pytestmark = pytest.mark.integration


def call(
    fake: BrazeFake,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = "test-key",
    headers: dict[str, str] | None = None,
    query: str = "",
) -> requests.Response:
    sent = {"Authorization": f"Bearer {key}"} if key is not None else {}
    sent |= headers or {}
    url = fake.url + path + (f"?{query}" if query else "")
    if isinstance(body, bytes):
        return requests.request(method, url, data=body, headers=sent, timeout=5)
    return requests.request(method, url, json=body, headers=sent, timeout=5)


def track(fake: BrazeFake, **arrays: list[dict[str, Any]]) -> requests.Response:
    return call(fake, "POST", "/users/track", arrays)


# -- gatekeeping ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"key": None}, 401, "Invalid API Key"),
        ({"key": "unknown"}, 401, "Invalid API Key"),
        ({"key": '"test-key"'}, 401, "Invalid API Key"),
        ({"headers": {"Authorization": "test-key"}}, 401, "Invalid API Key"),
        ({"key": "narrow"}, 403, "Access Denied"),
    ],
)
def test_auth_and_permissions(
    braze_fake: BrazeFake, kwargs: dict[str, Any], status: int, message: str
) -> None:
    braze_fake.add_key("narrow", {"segments.list"})
    response = call(braze_fake, "POST", "/users/track", {"attributes": []}, **kwargs)
    assert (response.status_code, response.json()) == (status, {"message": message})
    assert braze_fake.users == {}


def test_unknown_paths_and_trailing_slashes_are_404(braze_fake: BrazeFake) -> None:
    assert call(braze_fake, "POST", "/users/track/", {"attributes": []}).status_code == 404
    assert call(braze_fake, "GET", "/users/track").status_code == 404
    assert call(braze_fake, "GET", "/nope").status_code == 404


def test_post_needs_json_content_type_and_valid_json(braze_fake: BrazeFake) -> None:
    wrong_type = call(
        braze_fake, "POST", "/users/track", b"{}", headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    bad_json = call(
        braze_fake, "POST", "/users/track", b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert bad_json.json() == {
        "message": "Error while parsing request body. Please check your syntax."
    }
    assert braze_fake.requests[-1].body == "{nope"


def test_every_response_has_rate_limit_headers(braze_fake: BrazeFake) -> None:
    for response in (
        call(braze_fake, "GET", "/segments/list"),
        call(braze_fake, "GET", "/segments/list", key="bad"),
        call(braze_fake, "GET", "/missing"),
    ):
        assert response.headers["X-RateLimit-Limit"] == "250000"
        assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time())
    ok = call(braze_fake, "GET", "/segments/list")
    assert ok.headers["X-RateLimit-Remaining"] == "249998"


def test_bucket_exhaustion_gives_429_with_headers(braze_fake: BrazeFake) -> None:
    braze_fake.set_rate_limit("users.identity", 1, 30)
    assert call(braze_fake, "POST", "/users/alias/new", {"user_aliases": [
        {"alias_name": "a", "alias_label": "l"}]}).status_code == 201  # fmt: skip
    # /users/delete shares the bucket with /users/alias/new (braze_api.md §0.5).
    limited = call(braze_fake, "POST", "/users/delete", {"external_ids": ["x"]})
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    reset_in = int(limited.headers["X-RateLimit-Reset"]) - time.time()
    assert 25 < reset_in <= 31
    assert 25 <= int(limited.headers["Retry-After"]) <= 31
    assert call(braze_fake, "GET", "/segments/list").status_code == 200


def test_faults_are_consumed_in_order(braze_fake: BrazeFake) -> None:
    braze_fake.script(
        "/segments/list",
        [
            Fault(status=500),
            Fault(status=429, rate_headers=False, headers={"X-Ratelimit-Retry-After": "9"}),
            Fault(status=400, body={"message": "custom"}),
        ],
    )
    first = call(braze_fake, "GET", "/segments/list")
    second = call(braze_fake, "GET", "/segments/list")
    third = call(braze_fake, "GET", "/segments/list")
    fourth = call(braze_fake, "GET", "/segments/list")
    assert [r.status_code for r in (first, second, third, fourth)] == [500, 429, 400, 200]
    assert "X-RateLimit-Limit" not in second.headers
    assert second.headers["X-Ratelimit-Retry-After"] == "9"
    assert third.json() == {"message": "custom"}
    assert [r.status for r in braze_fake.requests_to("/segments/list")] == [500, 429, 400, 200]


# -- users/track semantics ------------------------------------------------------------------------


def test_attribute_operations(braze_fake: BrazeFake) -> None:
    braze_fake.add_user("u1", attributes={"visits": 2, "tags": ["a", "b", "c"], "drop": "me"})
    response = track(
        braze_fake,
        attributes=[
            {"external_id": "u1", "visits": {"inc": 3},
             "tags": {"add": ["a", "d"], "remove": ["c"]}, "drop": None,
             "colours": ["red", "red", "blue"], "prefs": {"x": 1, "y": {"z": 2}}},
            {"external_id": "u1", "_merge_objects": True, "prefs": {"y": {"w": 3}},
             "birthday": {"$time": "2000-01-02"}},
        ],
    )  # fmt: skip
    assert response.json() == {"message": "success", "attributes_processed": 2}
    user = braze_fake.user("u1")
    assert user is not None
    assert user["attributes"] == {
        "visits": 5,
        "tags": ["b", "a", "d"],  # a re-added value moves to the end
        "colours": ["red", "blue"],
        "prefs": {"x": 1, "y": {"z": 2, "w": 3}},
        "birthday": "2000-01-02",
    }


def test_update_existing_only_rules(braze_fake: BrazeFake) -> None:
    alias = {"alias_name": "anon", "alias_label": "web"}
    track(
        braze_fake,
        attributes=[
            {"external_id": "ghost", "_update_existing_only": True, "x": 1},
            {"user_alias": alias, "x": 1},  # alias attributes default to update-only
        ],
        events=[{"user_alias": alias, "name": "e", "time": "2024-01-01T00:00:00Z",
                 "_update_existing_only": False}],
    )  # fmt: skip
    assert braze_fake.users == {}
    track(braze_fake, attributes=[{"user_alias": alias, "_update_existing_only": False, "x": 2}])
    created = braze_fake.user(alias=("anon", "web"))
    assert created is not None and created["attributes"] == {"x": 2}
    assert created["external_id"] is None


def test_email_only_objects_find_or_create_by_email(braze_fake: BrazeFake) -> None:
    braze_fake.add_user("u1", attributes={"email": "a@example.com"})
    track(braze_fake, attributes=[{"email": "a@example.com", "plan": "pro"}])
    track(braze_fake, attributes=[{"email": "new@example.com", "plan": "free"}])
    known = braze_fake.user("u1")
    fresh = braze_fake.user(email="new@example.com")
    assert known is not None and known["attributes"]["plan"] == "pro"
    assert fresh is not None and fresh["external_id"] is None


def test_subscription_groups_in_track_reach_everyone_sharing_the_email(
    braze_fake: BrazeFake,
) -> None:
    braze_fake.add_user("u2", attributes={"email": "shared@example.com"})
    groups = [{"subscription_group_id": "g1", "subscription_state": "subscribed"}]
    track(
        braze_fake,
        attributes=[
            {"external_id": "u1", "email": "shared@example.com", "subscription_groups": groups}
        ],
    )
    assert braze_fake.group_state("g1", external_id="u1") == "subscribed"
    assert braze_fake.group_state("g1", external_id="u2") == "subscribed"


@pytest.mark.parametrize(
    ("obj", "error"),
    [
        ({"external_id": "u", "email_subscribe": "yes"}, "BAD_EMAIL_SUBSCRIPTION_STATE"),
        ({"external_id": "u", "push_subscribe": "no"}, "BAD_PUSH_SUBSCRIPTION_STATE"),
        ({"external_id": "u", "subscription_groups": {}}, "BAD_SUBSCRIPTION_GROUP_ARRAY"),
        ({"external_id": "u", "subscription_groups": [{"subscription_group_id": "g",
          "subscription_state": "maybe"}]}, "BAD_SUBSCRIPTION_GROUP_STATE"),
        ({"external_id": "u", "braze_id": "b"}, "Only one of"),
        ({"external_id": "x" * 988}, "EXTERNAL_USER_ID_TOO_LARGE"),
        ({"user_alias": {"alias_name": "n"}}, "'user_alias'"),
    ],
)  # fmt: skip
def test_invalid_attribute_objects_are_reported_per_index(
    braze_fake: BrazeFake, obj: dict[str, Any], error: str
) -> None:
    response = track(braze_fake, attributes=[{"external_id": "fine"}, obj])
    assert response.status_code == 201
    [item] = response.json()["errors"]
    assert item["index"] == 1 and item["input_array"] == "attributes"
    assert error in item["type"]


@pytest.mark.parametrize(
    ("array", "obj"),
    [
        ("events", {"external_id": "u", "time": "2024-01-01T00:00:00Z"}),
        ("events", {"external_id": "u", "name": "e", "time": "yesterday"}),
        ("events", {"external_id": "u", "name": "e", "time": "2024-01-01",
                    "properties": {"$x": 1}}),
        ("purchases", {"external_id": "u", "currency": "USD", "price": 1, "time": "2024-01-01"}),
        ("purchases", {"external_id": "u", "product_id": "p", "currency": "US", "price": 1,
                       "time": "2024-01-01"}),
        ("purchases", {"external_id": "u", "product_id": "p", "currency": "USD", "price": "1",
                       "time": "2024-01-01"}),
        ("purchases", {"external_id": "u", "product_id": "p", "currency": "USD", "price": 1,
                       "quantity": 101, "time": "2024-01-01"}),
    ],
)  # fmt: skip
def test_invalid_events_and_purchases_fail_the_all_invalid_request(
    braze_fake: BrazeFake, array: str, obj: dict[str, Any]
) -> None:
    response = call(braze_fake, "POST", "/users/track", {array: [obj]})
    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith("Valid data must be provided")
    assert [(e["input_array"], e["index"]) for e in body["errors"]] == [(array, 0)]
    assert braze_fake.users == {}


def test_response_counts_only_the_arrays_sent(braze_fake: BrazeFake) -> None:
    body = track(
        braze_fake, events=[{"external_id": "u", "name": "e", "time": "2024-01-01"}]
    ).json()
    assert body == {"message": "success", "events_processed": 1}


def test_combined_cap_for_mau_contracts(braze_fake: BrazeFake) -> None:
    braze_fake.track_combined_cap = 75
    events = [{"external_id": "u", "name": "e", "time": "2024-01-01"}] * 40
    response = track(braze_fake, attributes=[{"external_id": "u"}] * 40, events=events)
    assert (response.status_code, response.json()["message"]) == (400, "Max Input Length Exceeded")


# -- other endpoints ------------------------------------------------------------------------------


def test_subscription_set_limits_and_messages(braze_fake: BrazeFake) -> None:
    too_many = {"subscription_group_id": "g", "subscription_state": "subscribed",
                "external_id": [f"u{n}" for n in range(51)]}  # fmt: skip
    response = call(braze_fake, "POST", "/subscription/status/set", too_many)
    assert response.json() == {"message": "The max number of ids per request was exceeded"}
    braze_fake.add_subscription_group("mail", "email")
    wrong_channel = {"subscription_group_id": "mail", "subscription_state": "subscribed",
                     "phone": "+15555550100"}  # fmt: skip
    assert call(braze_fake, "POST", "/subscription/status/set", wrong_channel).status_code == 400


def test_status_get_is_capitalised(braze_fake: BrazeFake) -> None:
    body = {"subscription_group_id": "g", "subscription_state": "subscribed", "email": "a@b.co"}
    call(braze_fake, "POST", "/subscription/status/set", body)
    response = call(
        braze_fake, "GET", "/subscription/status/get",
        query="subscription_group_id=g&email=a@b.co&email=c@d.co",
    )  # fmt: skip
    assert response.json() == {
        "status": {"a@b.co": "Subscribed", "c@d.co": "Unknown"},
        "message": "success",
    }


def test_mixed_delete_is_refused_unless_flagged(braze_fake: BrazeFake) -> None:
    body = {"external_ids": ["a"], "braze_ids": ["b"]}
    assert call(braze_fake, "POST", "/users/delete", body).status_code == 400
    braze_fake.configure_flag("--allow-mixed-delete")
    assert call(braze_fake, "POST", "/users/delete", body).json() == {
        "deleted": 2,
        "message": "success",
    }
    with pytest.raises(KeyError):
        braze_fake.configure_flag("--no-such-flag")


def test_unsubscribes_need_end_date_and_cap_limit(braze_fake: BrazeFake) -> None:
    assert (
        call(braze_fake, "GET", "/email/unsubscribes", query="start_date=2024-01-01").status_code
        == 400
    )
    assert (
        call(braze_fake, "GET", "/email/unsubscribes", query="end_date=2024-01-01").status_code
        == 400
    )
    over = "start_date=2024-01-01&end_date=2024-01-02&limit=501"
    assert call(braze_fake, "GET", "/email/unsubscribes", query=over).status_code == 400


def test_segment_export_without_storage_serves_a_zip_of_json_lines(braze_fake: BrazeFake) -> None:
    braze_fake.add_segment("seg", "All", ["u1"])
    braze_fake.add_user("u1", attributes={"email": "a@example.com", "vip": True})
    gzip = {"segment_id": "seg", "fields_to_export": ["email"], "output_format": "gzip"}
    gzip_refused = call(braze_fake, "POST", "/users/export/segment", gzip)
    assert gzip_refused.status_code == 400
    fields = ["external_id", "custom_attributes"]
    body = {"segment_id": "seg", "fields_to_export": fields}
    answer = call(braze_fake, "POST", "/users/export/segment", body).json()
    download = requests.get(answer["url"], timeout=5)
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        [member] = archive.namelist()
        lines = archive.read(member).decode().splitlines()
    assert member.endswith(".txt")
    assert [json.loads(line) for line in lines] == [
        {"external_id": "u1", "custom_attributes": {"vip": True}}
    ]
    assert braze_fake.segment_exports[0]["object_prefix"] == answer["object_prefix"]


def test_reset_forgets_everything_but_keeps_serving(braze_fake: BrazeFake) -> None:
    braze_fake.add_key("extra")
    braze_fake.add_user("u1")
    braze_fake.script("/segments/list", [Fault(status=500)])
    braze_fake.strict_groups = True
    braze_fake.reset()
    assert braze_fake.users == {} and braze_fake.requests == [] and not braze_fake.strict_groups
    assert call(braze_fake, "GET", "/segments/list").status_code == 200
    assert call(braze_fake, "GET", "/segments/list", key="extra").status_code == 401


def test_concurrent_requests_are_all_recorded(braze_fake: BrazeFake) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(n: int) -> int:
        return track(braze_fake, attributes=[{"external_id": f"u{n}"}]).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(one, range(40)))
    assert statuses == [201] * 40
    assert len(braze_fake.requests_to("/users/track")) == 40
    assert len(braze_fake.users) == 40
