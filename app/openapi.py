"""OpenAPI 3.1 document generated from the app's routes and their ``@operation`` metadata.

Every HTTP route must carry ``@operation``; ``build_openapi`` raises if one does
not, so an endpoint cannot exist without being described.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute, Route

from app.fields import MAX_ID
from app.http import ERROR_MODEL, Operation, Param, operations_of
from app.schemas import PRODUCT_REQUIRED, ProductPatch

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
_REF = "#/components/schemas/"
_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_RETRY_AFTER = {
    "description": "seconds to wait before trying again (when the wait is known)",
    "schema": {"type": "integer", "minimum": 1},
}


# Request bodies are described as they are validated, responses as they are serialised
# (a UtcTime is read as date-time but written as a plain string, for instance).
Mode = Literal["validation", "serialization"]
Refs = dict[tuple[Any, Mode], dict[str, Any]]  # (model, mode) → its $ref


def _models(operations: list[Operation]) -> list[tuple[type[BaseModel], Mode]]:
    seen: dict[tuple[type[BaseModel], Mode], None] = {(ERROR_MODEL, "serialization"): None}
    for op in operations:
        if op.body is not None:
            seen[(op.body, "validation")] = None
        for model in op.responses.values():
            if model is not None:
                seen[(model, "serialization")] = None
    return list(seen)


def _forbid_nulls(schema: dict[str, Any], names: tuple[str, ...]) -> None:
    """Drop ``null`` from properties the route refuses as an explicit null (``explicit_nulls``)."""
    properties = schema.get("properties", {})
    for name in names:
        options = properties.get(name, {}).get("anyOf")
        if options is not None:
            kept = [o for o in options if o.get("type") != "null"]
            properties[name].pop("anyOf")
            properties[name].pop("default", None)
            properties[name].update(kept[0] if len(kept) == 1 else {"anyOf": kept})


def _param_schema(param: Param | str) -> tuple[str, dict[str, Any]]:
    if isinstance(param, str):
        return param, {"type": "string"}
    return param.description, dict(param.schema)


def _parameters(path: str, op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in _PARAM.findall(path):
        schema = _ID_SCHEMA if _is_id(name) else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": dict(schema)})
    for where, declared, required in (("query", op.query, False), ("header", op.headers, True)):
        for name, param in declared.items():
            description, schema = _param_schema(param)
            doc = {
                "name": name,
                "in": where,
                "required": required,
                "description": description,
                "schema": schema,
            }
            if where == "query":  # ``?limit=`` is read as if it were left out
                doc["allowEmptyValue"] = True
            params.append(doc)
    return params


def _is_id(name: str) -> bool:
    return name == "id" or name.endswith("_id")


def _implied_statuses(path: str, op: Operation) -> set[int]:
    """Answers the request pipeline can give whatever the route does (see ``app.http``)."""
    statuses: set[int] = set()
    if op.body is not None:
        statuses |= {400, 413, 422}  # not JSON, over max_body_bytes, invalid fields
    if op.auth:
        statuses.add(401)  # no token (where required), or a bad or expired one
    if any(_is_id(name) for name in _PARAM.findall(path)):
        statuses.add(404)  # an id out of range names nothing
    if any(not isinstance(p, str) for p in op.query.values()):
        statuses.add(422)  # a typed query parameter out of its bounds
    if path.startswith("/api/"):
        statuses.add(429)  # rate limits, and a database too busy to answer in time
    return statuses


def _response(status: int, model: type[BaseModel] | None, refs: Refs) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _STATUS_TEXT.get(status, str(status))}
    if model is None and status >= 400:
        model = ERROR_MODEL
    if model is not None:
        schema = refs[(model, "serialization")]
        response["content"] = {"application/json": {"schema": schema}}
    if status == 429:
        response["headers"] = {"Retry-After": _RETRY_AFTER}
    return response


def _operation_doc(path: str, method: str, op: Operation, refs: Refs) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{method}_{path}".replace("/", "_").replace("{", "").replace("}", ""),
        "tags": list(op.tags),
        "parameters": _parameters(path, op),
        "responses": {},
    }
    if op.auth == "optional":
        doc["security"] = [{}, {"bearer": []}]
    elif op.auth:
        doc["security"] = [{"bearer": []}]
    if op.body is not None:
        doc["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    declared = dict(op.responses)
    for status in _implied_statuses(path, op) - declared.keys():
        declared[status] = None
    for status, model in sorted(declared.items()):
        doc["responses"][str(status)] = _response(status, model, refs)
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
    refs, definitions = models_json_schema(models, ref_template=_REF + "{model}")
    schemas = definitions.get("$defs", {})
    if (ProductPatch, "validation") in refs:
        patch = schemas[refs[(ProductPatch, "validation")]["$ref"].removeprefix(_REF)]
        _forbid_nulls(patch, PRODUCT_REQUIRED)

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
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
