"""OpenAPI 3.1 document generated from the app's routes and their ``@operation`` metadata.

Every HTTP route must carry ``@operation``; ``build_openapi`` raises if one does
not, so an endpoint cannot exist without being described.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute, Route

from app.http import ERROR_MODEL, Operation, operations_of

_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    400: "Malformed request",
    401: "Not signed in or bad token",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Body too large",
    422: "Invalid fields",
    429: "Too many requests",
    503: "Not ready",
}


def _models(operations: list[Operation]) -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {ERROR_MODEL.__name__: ERROR_MODEL}
    for op in operations:
        for model in [op.body, *op.responses.values()]:
            if model is not None:
                seen[model.__name__] = model
    return list(seen.values())


def _parameters(path: str, op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in _PARAM.findall(path):
        schema = {"type": "integer", "minimum": 1} if name == "id" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, description in op.query.items():
        params.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": description,
                "schema": {"type": "string"},
            }
        )
    for name, description in op.headers.items():
        params.append(
            {
                "name": name,
                "in": "header",
                "required": True,
                "description": description,
                "schema": {"type": "string"},
            }
        )
    return params


def _operation_doc(path: str, method: str, op: Operation, refs: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{method}_{path}".replace("/", "_").replace("{", "").replace("}", ""),
        "tags": list(op.tags),
        "parameters": _parameters(path, op),
        "responses": {},
    }
    if op.auth:
        doc["security"] = [{"bearer": []}]
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[op.body.__name__]}},
        }
    for status, model in sorted(op.responses.items()):
        response: dict[str, Any] = {"description": _STATUS_TEXT.get(status, str(status))}
        if model is not None:
            response["content"] = {"application/json": {"schema": refs[model.__name__]}}
        elif status >= 400:
            response["content"] = {"application/json": {"schema": refs[ERROR_MODEL.__name__]}}
        doc["responses"][str(status)] = response
    return doc


def build_openapi(routes: list[BaseRoute], *, version: str) -> dict[str, Any]:
    described: list[tuple[str, str, Operation]] = []
    for route in routes:
        if not isinstance(route, Route) or route.methods is None or not route.include_in_schema:
            continue
        for method, op in sorted(operations_of(route).items()):
            if op is None:
                raise RuntimeError(f"{method} {route.path} has no @operation metadata")
            described.append((route.path, method.lower(), op))

    models = _models([op for _path, _method, op in described])
    ref_map, definitions = models_json_schema(
        [(m, "serialization") for m in models] + [(m, "validation") for m in models],
        ref_template="#/components/schemas/{model}",
    )
    refs = {model.__name__: schema for (model, _mode), schema in ref_map.items()}

    paths: dict[str, dict[str, Any]] = {}
    for path, method, op in described:
        paths.setdefault(path, {})[method] = _operation_doc(path, method, op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "livecart",
            "version": version,
            "description": "Live-stream shopping server. See docs/api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
