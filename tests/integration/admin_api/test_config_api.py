"""The admin JSON API for configuration, every response checked against the OpenAPI document."""

from typing import Any

import pytest
from flask.testing import FlaskClient
from openapi_schema_validator import OAS30Validator, validate
from sqlalchemy import select
from werkzeug.test import TestResponse

from backend.db.models import BrazeConnection, BrazeRequestRecord
from backend.services.admin_auth import create_api_token
from backend.services.deps import Deps
from tests.config_samples import GROUP_PUSH, SECRETS, row_counts, sample_document, snapshot

API = "/api/admin/v1"


@pytest.fixture
def token(deps: Deps) -> str:
    return create_api_token(deps, "config-api-test")


class Api:
    """A client that sends the bearer token and checks each answer against the OpenAPI schema."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}
        self.spec = client.get("/api/openapi.json").json

    def call(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = self.client.open(API + path, method=method, headers=headers, **kwargs)
        self.check(method, self.template(path), response)
        return response

    @staticmethod
    def template(path: str) -> str:
        """/kind, /kind/{code} or /kind/{code}/action: the OpenAPI path of a concrete one."""
        parts = path.split("?")[0].strip("/").split("/")
        if len(parts) > 1:
            parts[1] = "{code}"
        return "/" + "/".join(parts)

    def check(self, method: str, template: str, response: TestResponse) -> None:
        operation = self.spec["paths"][API + template][method.lower()]
        answer = operation["responses"][str(response.status_code)]
        if response.status_code == 204:
            assert response.get_data() == b""
            return
        schema = answer["content"]["application/json"]["schema"]
        validate(
            response.json, {**schema, "components": self.spec["components"]}, cls=OAS30Validator
        )

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> TestResponse:
        return self.call("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> TestResponse:
        return self.call("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> TestResponse:
        return self.call("DELETE", path, **kw)


@pytest.fixture
def api(client: FlaskClient, token: str) -> Api:
    return Api(client, token)


def error(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.json["error"]
    assert body["code"] == code and body["message"]
    return body


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer olt_not-a-real-token"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer wrong-prefix"},
    ],
)
def test_without_a_valid_token_everything_is_401(client: FlaskClient, headers: dict) -> None:
    for method, path in [
        ("GET", "/braze_connections"),
        ("POST", "/config"),
        ("DELETE", "/subscriptions/x"),
        ("GET", "/audit"),
    ]:
        response = client.open(API + path, method=method, headers=headers, json={})
        error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_crud_round_trip(api: Api, deps: Deps) -> None:
    connection = sample_document()["braze_connections"][0]
    response = api.post("/braze_connections", json=connection)
    assert response.status_code == 201
    assert response.headers["Location"].endswith(f"{API}/braze_connections/braze-main")
    assert response.json["result"] == "created"
    assert response.json["object"]["api_key"] == "<redacted>"
    listed = api.get("/braze_connections").json["braze_connections"]
    assert [c["code"] for c in listed] == ["braze-main"]
    shown = api.get("/braze_connections/braze-main").json
    assert shown == listed[0]
    before = snapshot(deps, skip=("api_tokens",))
    response = api.put("/braze_connections/braze-main", json=shown)
    assert (response.status_code, response.json["result"]) == (200, "unchanged")
    assert snapshot(deps, skip=("api_tokens",)) == before
    response = api.put("/braze_connections/braze-main", json=shown | {"sandbox": True})
    assert (response.status_code, response.json["result"]) == (200, "changed")
    subscription = {
        "name": "Tips",
        "channels": [
            {"channel": "push", "connection": "braze-main", "subscription_group_id": GROUP_PUSH}
        ],
    }
    response = api.put("/subscriptions/tips", json=subscription)
    assert (response.status_code, response.json["result"]) == (201, "created")
    assert response.json["object"]["name"] == {"en": "Tips"}
    error(api.delete("/braze_connections/braze-main"), 409, "conflict")
    assert api.delete("/subscriptions/tips").status_code == 204
    assert api.delete("/braze_connections/braze-main").status_code == 204
    assert sum(row_counts(deps)[t] for t in ("braze_connections", "subscriptions")) == 0
    error(api.get("/braze_connections/braze-main"), 404, "not_found")
    error(api.delete("/braze_connections/braze-main"), 404, "not_found")


def test_post_refuses_an_existing_code(api: Api) -> None:
    connection = sample_document()["braze_connections"][0]
    assert api.post("/braze_connections", json=connection).status_code == 201
    body = error(api.post("/braze_connections", json=connection), 409, "conflict")
    assert body["message"] == "Braze connection 'braze-main' already exists"


def test_validation_errors_name_each_field(api: Api, deps: Deps) -> None:
    api.post("/braze_connections", json=sample_document()["braze_connections"][0])
    counts = row_counts(deps)
    subscription = sample_document()["subscriptions"][0]
    subscription["channels"][0]["subscription_group_id"] = "nope"
    subscription["channels"][1]["connection"] = "braze-eu"
    subscription["nmae"] = "x"
    body = error(api.post("/subscriptions", json=subscription), 400, "invalid")
    assert [f["path"] for f in body["details"]["fields"]] == [
        "nmae",
        "channels[0].subscription_group_id",
        "channels[1].connection",
    ]
    assert body["details"]["fields"][2]["message"] == (
        "unknown Braze connection 'braze-eu': not in this file and not configured yet"
    )
    body = error(
        api.put("/subscriptions/other", json=sample_document()["subscriptions"][0]), 400, "invalid"
    )
    assert body["details"]["fields"][0]["path"] == "code"
    body = error(api.post("/subscriptions", json={"name": "x", "channels": []}), 400, "invalid")
    assert {f["path"] for f in body["details"]["fields"]} == {"code", "channels"}
    assert row_counts(deps) == counts


@pytest.mark.parametrize(
    ("data", "content_type", "message"),
    [
        (
            "{not json",
            "application/json",
            "malformed JSON: Expecting property name enclosed in double quotes at line 1, column 2",
        ),
        ("[1, 2]", "application/json", "expected a JSON object, got a list"),
        ('"text"', "application/json", "expected a JSON object, got a string"),
        ("", "application/json", "malformed JSON: Expecting value at line 1, column 1"),
        ('{"code": "x"}', "text/plain", "send a JSON object with Content-Type: application/json"),
        ('{"budget_share": NaN}', "application/json", "malformed JSON: NaN is not JSON"),
        (b"\xff\xfe{}", "application/json", None),
    ],
)
def test_bad_bodies_are_400_never_500(
    api: Api, data: str | bytes, content_type: str, message: str | None
) -> None:
    for method, path in [
        ("POST", "/braze_connections"),
        ("PUT", "/subscriptions/x"),
        ("POST", "/config"),
    ]:
        response = api.call(method, path, data=data, content_type=content_type)
        body = error(response, 400, "invalid")
        if message:
            assert body["message"] == message


def test_unknown_kinds_and_codes_are_404(api: Api, client: FlaskClient, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/widgets", "/widgets/x", "/braze_connections/a/b/c"):
        error(client.get(API + path, headers=headers), 404, "not_found")
    error(api.get("/properties/nope"), 404, "not_found")
    error(api.post("/braze_connections/nope/test"), 404, "not_found")
    error(api.get("/braze_connections/nope/sandbox-requests"), 404, "not_found")


def test_whole_config_export_and_apply(api: Api, deps: Deps) -> None:
    counts = row_counts(deps)
    response = api.post("/config?dry_run=true", json=sample_document())
    assert response.json["dry_run"] is True
    assert [c["code"] for c in response.json["created"]] == [
        "braze-main",
        "newsletter",
        "offers",
        "acme-web",
    ]
    assert row_counts(deps) == counts
    response = api.post("/config", json=sample_document())
    assert response.json["created"][0] == {"kind": "braze_connections", "code": "braze-main"}
    exported = api.get("/config").json
    for secret in SECRETS:
        assert secret not in repr(exported)
    exported["properties"][0]["languages"] = ["en"]
    exported["subscriptions"].pop()  # offers
    report = api.post("/config?prune=true", json=exported).json
    assert report["changed"] == [
        {"kind": "properties", "code": "acme-web", "fields": ["languages"]}
    ]
    assert report["deleted"] == [{"kind": "subscriptions", "code": "offers"}]
    assert {c["code"] for c in report["unchanged"]} == {"braze-main", "newsletter"}


def test_whole_config_validation_and_flags(api: Api, deps: Deps) -> None:
    doc = sample_document()
    doc["properties"][0]["allowed_origins"] = ["http://www.acme.com"]
    body = error(api.post("/config", json=doc), 400, "invalid")
    assert body["details"]["fields"] == [
        {
            "path": "properties[0].allowed_origins[0]",
            "message": "'http://www.acme.com' must use https:// (plain http is only allowed for "
            "localhost)",
        }
    ]
    body = error(api.post("/config?dry_run=maybe", json=sample_document()), 400, "invalid")
    assert body["details"]["fields"][0]["path"] == "dry_run"
    assert row_counts(deps)["braze_connections"] == 0


def test_the_api_never_interpolates_server_environment(api: Api) -> None:
    doc = sample_document()
    doc["braze_connections"][0]["name"] = "${OPTLINE_ENCRYPTION_KEY}"
    api.post("/config", json=doc)
    assert api.get("/braze_connections/braze-main").json["name"] == "${OPTLINE_ENCRYPTION_KEY}"


def test_connection_test_and_sandbox_requests(api: Api, deps: Deps) -> None:
    connection = sample_document()["braze_connections"][0] | {"sandbox": True}
    api.post("/braze_connections", json=connection)
    checks = api.post("/braze_connections/braze-main/test").json
    assert checks["code"] == "braze-main" and checks["checks"][0]["permission"] == "sandbox"
    with deps.session() as s:
        cid = s.scalars(select(BrazeConnection.id)).one()
        for i in range(3):
            s.add(BrazeRequestRecord(connection_id=cid, method="POST", path=f"/p{i}", body={}))
    page = api.get("/braze_connections/braze-main/sandbox-requests?limit=2").json
    assert [r["path"] for r in page["requests"]] == ["/p2", "/p1"]
    rest = api.get(
        f"/braze_connections/braze-main/sandbox-requests?before_id={page['next_before_id']}"
    ).json
    assert [r["path"] for r in rest["requests"]] == ["/p0"] and rest["next_before_id"] is None


def test_audit_is_newest_first_with_paging(api: Api) -> None:
    api.post("/config", json=sample_document())
    page = api.get("/audit?limit=3").json
    assert [e["object_code"] for e in page["entries"]] == ["acme-web", "offers", "newsletter"]
    assert page["entries"][0]["actor"] == "api:config-api-test"
    older = api.get(f"/audit?before_id={page['next_before_id']}").json
    assert older["entries"][0]["object_code"] == "braze-main"
    assert all(e["id"] < page["next_before_id"] for e in older["entries"])
    for bad in ("limit=0", "limit=501", "limit=x", "before_id=-1"):
        body = error(api.get(f"/audit?{bad}"), 400, "invalid")
        assert body["details"]["fields"][0]["path"] == bad.split("=")[0]
