"""GET /api/admin/v1/profiles (PRODUCT 1.5) and POST /api/admin/v1/profiles:batch."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db.models import Preference, Profile, Subject, Subscription
from backend.services.deps import Deps


def ingest(client: FlaskClient, auth: dict[str, str], profiles: list[Any]) -> Any:
    return client.post("/api/admin/v1/profiles:batch", json={"profiles": profiles}, headers=auth)


def subscribe(deps: Deps, *, external_id: str | None, email: str | None, state: str) -> None:
    with deps.session() as session:
        subscription = session.scalars(select(Subscription)).one()
        subject = Subject(subject_key=str(uuid.uuid4()), external_id=external_id, email=email)
        session.add(subject)
        session.flush()
        session.add(
            Preference(
                subject_id=subject.id,
                subscription_id=subscription.id,
                channel="email",
                state=state,
                source="api",
            )
        )


def test_profile_read_has_the_product_shape(
    configured: Deps, client: FlaskClient, auth: dict[str, str]
) -> None:
    response = ingest(
        client,
        auth,
        [
            {
                "identifiers": {"external_id": "u1", "email": "Ann@Example.com", "braze_id": "b1"},
                "properties": {"tier": "gold", "country": "ES"},
            }
        ],
    )
    assert response.status_code == 200, response.get_json()
    subscribe(configured, external_id="u1", email=None, state="subscribed")
    response = client.get("/api/admin/v1/profiles?external_id=u1", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["profiles"]
    (profile,) = body["profiles"]
    assert profile["identifiers"] == {
        "external_id": "u1",
        "email": "ann@example.com",
        "braze_id": "b1",
    }
    assert profile["properties"] == {"tier": "gold", "country": "ES"}
    assert profile["segments"] == ["vip", "vip-es"]
    assert profile["interactions"] == []
    assert profile["permissions"] == ["newsletter.email"]
    assert {"id", "version", "created_at", "updated_at"} <= set(profile)
    by_email = client.get("/api/admin/v1/profiles?email=ANN@example.com", headers=auth)
    assert by_email.get_json()["profiles"][0]["identifiers"]["external_id"] == "u1"


def test_permissions_follow_the_subject_by_email_and_only_subscribed(
    configured: Deps, client: FlaskClient, auth: dict[str, str]
) -> None:
    ingest(
        client,
        auth,
        [
            {"identifiers": {"email": "bob@example.com"}, "properties": {}},
            {"identifiers": {"email": "cy@example.com"}, "properties": {}},
        ],
    )
    subscribe(configured, external_id=None, email="bob@example.com", state="subscribed")
    subscribe(configured, external_id=None, email="cy@example.com", state="unsubscribed")
    bob = client.get("/api/admin/v1/profiles?email=bob@example.com", headers=auth).get_json()
    cy = client.get("/api/admin/v1/profiles?email=cy@example.com", headers=auth).get_json()
    assert bob["profiles"][0]["permissions"] == ["newsletter.email"]
    assert cy["profiles"][0]["permissions"] == []


def test_unknown_person_is_an_empty_list_and_a_name_is_required(
    deps: Deps, client: FlaskClient, auth: dict[str, str]
) -> None:
    response = client.get("/api/admin/v1/profiles?external_id=nobody", headers=auth)
    assert response.get_json() == {"profiles": []}
    response = client.get("/api/admin/v1/profiles", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid"


def test_batch_results_per_item(deps: Deps, client: FlaskClient, auth: dict[str, str]) -> None:
    ingest(client, auth, [{"identifiers": {"external_id": "u1"}, "properties": {"a": 1}}])
    response = ingest(
        client,
        auth,
        [
            {"identifiers": {"external_id": "u1"}, "properties": {"a": 1}},
            {"identifiers": {"external_id": "u2"}, "properties": {"a": 2}},
            {"identifiers": {"external_id": "u1"}, "properties": {"a": None, "b": 2}},
            {"identifiers": {}, "properties": {"x": "\u0000"}},
            "not an object",
        ],
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["counts"] == {"created": 1, "updated": 1, "unchanged": 1, "skipped": 0, "failed": 2}
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["unchanged", "created", "updated", "failed", "failed"]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3, 4]
    assert body["results"][3]["errors"] == [
        {
            "path": "profiles[3].identifiers",
            "message": "give at least one identifier (external_id or email)",
        },
        {"path": "profiles[3].properties.x", "message": "must not contain NUL characters"},
    ]
    assert body["results"][4]["errors"][0]["path"] == "profiles[4]"
    with deps.session() as session:
        u1 = session.scalars(select(Profile).where(Profile.external_id == "u1")).one()
    assert u1.properties == {"b": 2}
    assert u1.version == 2


def test_batch_limits(deps: Deps, client: FlaskClient, auth: dict[str, str]) -> None:
    too_many = [{"identifiers": {"external_id": f"u{i}"}} for i in range(1001)]
    response = ingest(client, auth, too_many)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["fields"][0]["path"] == "profiles"
    assert ingest(client, auth, []).status_code == 400
    # ~1.5 MB: above the app's 256 KB cap, within this route's 5 MB.
    big = [
        {"identifiers": {"external_id": f"u{i}"}, "properties": {"bio": "x" * 1500}}
        for i in range(1000)
    ]
    response = ingest(client, auth, big)
    assert response.status_code == 200, response.status_code
    assert response.get_json()["counts"]["created"] == 1000
    huge = json.dumps(
        {
            "profiles": [{"identifiers": {"external_id": "u"}, "properties": {"bio": "x" * 9000}}]
            * 600
        }
    )
    response = client.post(
        "/api/admin/v1/profiles:batch", data=huge, content_type="application/json", headers=auth
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


def test_other_routes_keep_the_small_body_cap(
    deps: Deps, client: FlaskClient, auth: dict[str, str]
) -> None:
    body = json.dumps({"code": "x", "name": "y" * 300_000})
    response = client.post(
        "/api/admin/v1/segments", data=body, content_type="application/json", headers=auth
    )
    assert response.status_code == 413


def test_bearer_token_required(deps: Deps, client: FlaskClient) -> None:
    response = client.post("/api/admin/v1/profiles:batch", json={"profiles": []})
    assert response.status_code == 401
    assert client.get("/api/admin/v1/profiles?external_id=u1").status_code == 401


def test_malformed_json_is_a_400(deps: Deps, client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/api/admin/v1/profiles:batch", data="{nope", content_type="application/json", headers=auth
    )
    assert response.status_code == 400
    assert "malformed JSON" in response.get_json()["error"]["message"]


def test_openapi_documents_the_routes(deps: Deps, client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in (
        "/api/admin/v1/profiles",
        "/api/admin/v1/profiles:batch",
        "/api/admin/v1/runs",
        "/api/admin/v1/runs/{run_id}",
        "/api/admin/v1/runs/{run_id}/errors.csv",
        "/api/admin/v1/runs/{run_id}/cancel",
        "/api/admin/v1/sync_connections/{code}/run",
    ):
        assert path in paths, path


def test_other_identifiers_find_the_same_profile(
    deps: Deps, client: FlaskClient, auth: dict[str, str]
) -> None:
    first = ingest(client, auth, [{"identifiers": {"braze_id": "b-1"}, "properties": {"a": 1}}])
    assert first.get_json()["counts"]["created"] == 1
    again = ingest(client, auth, [{"identifiers": {"braze_id": "b-1"}, "properties": {"b": 2}}])
    assert again.get_json()["counts"]["updated"] == 1
    # Giving the external id later attaches it to the profile found by email.
    ingest(client, auth, [{"identifiers": {"email": "d@example.com"}, "properties": {}}])
    joined = ingest(
        client, auth, [{"identifiers": {"external_id": "u7", "email": "d@example.com"}}]
    )
    assert joined.get_json()["results"][0]["status"] == "updated"
    with deps.session() as session:
        rows = session.execute(
            select(
                Profile.external_id, Profile.email, Profile.identifiers, Profile.properties
            ).order_by(Profile.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        (None, None, {"braze_id": "b-1"}, {"a": 1, "b": 2}),
        ("u7", "d@example.com", {}, {}),
    ]
