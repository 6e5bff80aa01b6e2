"""The OpenAPI document describes every configuration route of the admin API."""

import re

from flask import Flask
from flask.testing import FlaskClient

from backend.domain.config_registry import sections
from backend.web.admin_api import views

API = "/api/admin/v1"


def test_document_is_valid_openapi_3(client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    doc = client.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    validate(doc)


def test_every_config_route_is_documented_with_auth_and_errors(
    app: Flask, client: FlaskClient
) -> None:
    doc = client.get("/api/openapi.json").json
    kinds = [s.name for s in sections()]
    documented = 0
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "__module__", "") != views.__name__:
            continue
        concrete = [rule.rule.replace("<any(" + ", ".join(kinds) + "):kind>", k) for k in kinds]
        for path in concrete:
            template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
            assert template in doc["paths"], template
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                operation = doc["paths"][template][method.lower()]
                assert operation["security"] == [{"adminToken": []}]
                unauthorized = operation["responses"]["401"]["content"]["application/json"]
                assert unauthorized["schema"] == {"$ref": "#/components/schemas/Error"}
                documented += 1
    assert documented >= 5 * len(kinds) + 5


def test_request_bodies_and_schemas_are_described(client: FlaskClient) -> None:
    doc = client.get("/api/openapi.json").json
    schemas = doc["components"]["schemas"]
    put = doc["paths"][f"{API}/subscriptions/{{code}}"]["put"]
    body = put["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ConfigSubscriptionInput"}
    assert set(put["responses"]) >= {"200", "201", "400", "401", "409"}
    channel = schemas["ConfigSubscription"]["properties"]["channels"]["items"]
    assert channel["properties"]["channel"]["enum"] == ["email", "sms", "push", "whatsapp"]
    connection = schemas["ConfigBrazeConnection"]
    assert connection["additionalProperties"] is False
    assert set(connection["required"]) >= {"code", "api_key", "rest_endpoint", "s3"}
    apply = doc["paths"][f"{API}/config"]["post"]
    assert {p["name"] for p in apply["parameters"]} == {"dry_run", "prune"}
    assert set(schemas["ConfigDocument"]["properties"]) == {s.name for s in sections()}
