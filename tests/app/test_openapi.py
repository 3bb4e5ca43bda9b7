from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.routing import Route
from starlette.testclient import TestClient

from app.accounts import Role
from app.factory import all_routes
from tests.http_helpers import Api


def test_openapi_describes_every_http_route(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    routes = [r for r in all_routes() if isinstance(r, Route) and r.include_in_schema]
    assert routes
    for route in routes:
        assert route.methods is not None
        for method in route.methods - {"HEAD"}:
            operation = doc["paths"][route.path][method.lower()]
            assert operation["summary"]
            assert operation["responses"]


def test_openapi_request_bodies_and_refs_resolve(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    register = doc["paths"]["/api/auth/register"]["post"]
    ref = register["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[-1]
    schema = doc["components"]["schemas"][name]
    assert {"username", "password"} <= set(schema["properties"])
    # every $ref anywhere in the document points at a defined schema
    text = client.get("/openapi.json").text
    defined = set(doc["components"]["schemas"])
    for chunk in text.split('"$ref":"#/components/schemas/')[1:]:
        assert chunk.split('"', 1)[0] in defined


def test_path_ids_and_auth_are_declared(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    start = doc["paths"]["/api/lives/{id}/start"]["post"]
    assert {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    } in start["parameters"]
    assert start["security"] == [{"bearer": []}]
    assert "409" in start["responses"]


def _query_operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in doc["paths"].items():
        for param in methods.get("get", {}).get("parameters", []):
            if param["in"] == "query":
                yield path.replace("{id}", "1"), param["name"], param


def _bad_values(schema: dict[str, Any]) -> list[str]:
    if "enum" in schema:
        return ["bogus"]
    if schema["type"] == "string":  # free text (a search): only its length is bounded
        return ["x" * (schema["maxLength"] + 1)]
    return [str(schema["minimum"] - 1), str(schema["maximum"] + 1), "x", "1.5"]


def _good_values(schema: dict[str, Any]) -> list[str]:
    if "enum" in schema:
        return [*schema["enum"], ""]
    if schema["type"] == "string":
        return ["x" * schema["maxLength"], "42", ""]
    return [str(schema["minimum"]), str(schema["maximum"]), ""]


def test_query_parameters_are_declared_as_enforced(client: TestClient, api: Api) -> None:
    """Each declared bound is the one the route enforces: just inside is served, just
    outside (or not an integer, or not one of the choices) is a 422 naming the parameter."""
    creator = api.register("maker", "creator")
    api.live(creator)  # live 1, so per-live lists reach their query parameters
    hook = api.client.post(
        "/api/webhooks",
        headers=api.auth(creator),
        json={"url": "http://127.0.0.1:9/hook", "events": ["order.placed"]},
    )
    assert hook.status_code == 201, hook.text  # webhook 1, for its deliveries' query
    admin = api.make_user("boss", Role.ADMIN)  # passes every permission rule
    doc = client.get("/openapi.json").json()
    checked = set()
    for path, name, param in _query_operations(doc):
        schema = param["schema"]
        assert schema["type"] in {"integer", "string"}, (path, name)
        assert param["allowEmptyValue"] is True
        if schema["type"] == "string":
            assert "enum" in schema or "maxLength" in schema, f"{path} {name}: unbounded text"
        for value in _good_values(schema):
            resp = client.get(path, params={name: value}, headers=api.auth(admin))
            # In bounds: served, or it names something that does not exist (a warehouse).
            missing = (
                resp.status_code == 404 and resp.json()["error"]["code"] == "unknown_warehouse"
            )
            assert resp.status_code == 200 or missing, (path, name, value, resp.text)
        for value in _bad_values(schema):
            resp = client.get(path, params={name: value}, headers=api.auth(admin))
            assert resp.status_code == 422, (path, name, value, resp.text)
            assert set(resp.json()["error"]["fields"]) == {name}
            assert "422" in doc["paths"][path.replace("/1/", "/{id}/")]["get"]["responses"]
        checked.add((path, name))
    assert {("/api/lives", "creator_id"), ("/api/lives/1/events", "after")} <= checked
    assert ("/api/fulfillment/orders", "status") in checked


def test_statuses_every_request_can_get_are_declared(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    assert set(doc["components"]["schemas"]["ErrorOut"]["properties"]) == {"error"}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            responses = op["responses"]
            for status, response in responses.items():
                if int(status) >= 400 and status != "503":
                    assert response["content"]["application/json"]["schema"] == error_ref
            if "requestBody" in op:  # not JSON; over the size cap; invalid fields
                assert {"400", "413", "422"} <= set(responses), (method, path)
            if "security" in op:
                assert "401" in responses, (method, path)
            if "{id}" in path:
                assert "404" in responses, (method, path)
            if path.startswith("/api/"):
                assert "Retry-After" in responses["429"]["headers"], (method, path)


def test_optional_auth_and_an_optional_body_are_declared(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    # A bad token on a public list is a 401 all the same.
    assert doc["paths"]["/api/lives"]["get"]["security"] == [{}, {"bearer": []}]
    assert client.get("/api/lives", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert "401" in doc["paths"]["/api/lives"]["get"]["responses"]
    logout = doc["paths"]["/api/auth/logout"]["post"]
    assert logout["requestBody"]["required"] is False
    # A patch may leave a field out but not clear it: null is not offered.
    patch = doc["components"]["schemas"]["ProductPatch"]["properties"]
    assert patch["stock"]["type"] == "integer"
    assert {"type": "null"} in patch["image_url"]["anyOf"]


def test_responses_are_described_as_serialised(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    ok = doc["paths"]["/api/lives/{id}"]["get"]["responses"]["200"]
    live = doc["components"]["schemas"][ok["content"]["application/json"]["schema"]["$ref"]
                                        .rsplit("/", 1)[-1]]  # fmt: skip
    envelope_ref = live["properties"]["live"]["$ref"].rsplit("/", 1)[-1]
    created_at = doc["components"]["schemas"][envelope_ref]["properties"]["created_at"]
    assert created_at == {"title": "Created At", "type": "string"}  # "…Z", not a parsed date
