from __future__ import annotations

from starlette.routing import Route
from starlette.testclient import TestClient

from app.factory import all_routes


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
        "schema": {"type": "integer", "minimum": 1},
    } in start["parameters"]
    assert start["security"] == [{"bearer": []}]
    assert "409" in start["responses"]
