"""Request parsing and response helpers shared by every route module.

Everything a client sends passes through here: bodies are size-capped, parsed
and validated into pydantic models; path ids and query parameters are checked
before any database sees them. Failures become 4xx ``ApiError``s naming the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.errors import ApiError, not_found
from app.fields import MAX_ID
from app.schemas import ErrorOut
from app.state import AppState

M = TypeVar("M", bound=BaseModel)
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Param:
    """A query or header parameter as OpenAPI declares it: the bounds its route enforces."""

    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


def int_param(description: str, *, low: int = 0, high: int = MAX_ID) -> Param:
    """An integer read with ``query_int(..., low=low, high=high)``."""
    return Param(description, {"type": "integer", "minimum": low, "maximum": high})


def enum_param(description: str, choices: Iterable[str]) -> Param:
    return Param(description, {"type": "string", "enum": list(choices)})


# The bounds ``page`` enforces.
PAGE_LIMIT = int_param("page size, default 50", low=1, high=200)
PAGE_OFFSET = int_param("skip this many, default 0", low=0, high=1_000_000)
PAGE = {"limit": PAGE_LIMIT, "offset": PAGE_OFFSET}
Auth = bool | Literal["optional"]


@dataclass(frozen=True)
class Operation:
    """What OpenAPI needs to know about an endpoint, attached by ``@operation``.

    ``auth``: True when a bearer token is required, "optional" when one is read if
    sent (a bad one is still a 401). Statuses implied by the rest (400/413/422 for
    a body, 401 for auth, 404 for a path id, 422 for typed query parameters, 429
    under /api/) are added by ``app.openapi``; ``responses`` lists the others.
    """

    summary: str
    responses: Mapping[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: Mapping[str, Param | str] = field(default_factory=dict)  # str: a description
    headers: Mapping[str, Param | str] = field(default_factory=dict)
    auth: Auth = False
    tags: tuple[str, ...] = ()


def operation(
    summary: str,
    *,
    responses: Mapping[int, type[BaseModel] | None],
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    query: Mapping[str, Param | str] | None = None,
    headers: Mapping[str, Param | str] | None = None,
    auth: Auth = False,
    tags: tuple[str, ...] = (),
) -> Callable[[Endpoint], Endpoint]:
    def decorate(func: Endpoint) -> Endpoint:
        func.__livecart_operation__ = Operation(  # type: ignore[attr-defined]
            summary=summary,
            responses=responses,
            body=body,
            body_required=body_required,
            query=query or {},
            headers=headers or {},
            auth=auth,
            tags=tags,
        )
        return func

    return decorate


def get_operation(func: object) -> Operation | None:
    op = getattr(func, "__livecart_operation__", None)
    return op if isinstance(op, Operation) else None


def state(request: Request) -> AppState:
    result: AppState = request.app.state.livecart
    return result


def _field_errors(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        name = ".".join(str(part) for part in err["loc"]) or "body"
        fields.setdefault(name, err["msg"])
    return fields


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) anything larger than ``limit`` without buffering it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_body(request: Request, model: type[M]) -> M:
    """Validate the JSON body into ``model``: 400 ``invalid_json``, 422 ``validation_error``."""
    raw = await read_body(request, state(request).settings.max_body_bytes)
    if not raw.strip():
        raise ApiError(400, "invalid_json", "a JSON object body is required")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
        if any(err["type"] == "model_type" and not err["loc"] for err in exc.errors()):
            raise ApiError(
                422,
                "validation_error",
                "the body must be a JSON object",
                fields={"body": "must be a JSON object"},
            ) from None
        raise ApiError(
            422, "validation_error", "the request has invalid fields", fields=_field_errors(exc)
        ) from None


def parse_id(raw: str, what: str = "resource") -> int:
    """A path id: a positive decimal integer within range, else 404 (ids are opaque)."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        raise not_found(what)
    value = int(raw)
    if not 1 <= value <= MAX_ID:
        raise not_found(what)
    return value


def path_id(request: Request, what: str = "resource", name: str = "id") -> int:
    return parse_id(str(request.path_params[name]), what)


def query_int(
    request: Request, name: str, *, default: int | None = None, low: int = 0, high: int = MAX_ID
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 11:
        raise ApiError(
            422,
            "validation_error",
            f"{name} must be an integer",
            fields={name: "must be an integer"},
        )
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(
            422,
            "validation_error",
            f"{name} is out of range",
            fields={name: f"must be between {low} and {high}"},
        )
    return value


def page(request: Request) -> tuple[int, int]:
    """``limit`` (1–200, default 50) and ``offset`` (≥ 0) query parameters."""
    limit = query_int(request, "limit", default=50, low=1, high=200)
    offset = query_int(request, "offset", default=0, low=0, high=1_000_000)
    return (limit or 50, offset or 0)


def respond(payload: BaseModel | Mapping[str, Any], status: int = 200) -> JSONResponse:
    content = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    return JSONResponse(content, status_code=status)


# Every operation may answer with the error shape; listed once for OpenAPI.
ERROR_MODEL = ErrorOut


def group_routes(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Merge HTTP routes that share a path into one route per path.

    Route modules declare one ``Route`` per (path, method) for readability; merged,
    a wrong method gets a 405 whose ``Allow`` header lists every method the path has.
    """
    grouped: dict[str, dict[str, Endpoint]] = {}
    order: list[BaseRoute | str] = []
    for route in routes:
        if not isinstance(route, Route) or route.methods is None or not route.include_in_schema:
            order.append(route)
            continue
        if route.path not in grouped:
            grouped[route.path] = {}
            order.append(route.path)
        for method in route.methods - {"HEAD"}:
            grouped[route.path][method] = route.endpoint
    merged: list[BaseRoute] = []
    for item in order:
        if not isinstance(item, str):
            merged.append(item)
            continue
        handlers = grouped[item]
        if len(handlers) == 1:
            [(method, endpoint)] = handlers.items()
            merged.append(Route(item, endpoint, methods=[method]))
        else:
            merged.append(Route(item, _dispatcher(handlers), methods=list(handlers)))
    return merged


def _dispatcher(handlers: dict[str, Endpoint]) -> Endpoint:
    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    dispatch.__livecart_handlers__ = dict(handlers)  # type: ignore[attr-defined]
    return dispatch


def operations_of(route: Route) -> dict[str, Operation | None]:
    """Method → ``@operation`` metadata of a (possibly merged) route."""
    handlers: dict[str, Endpoint] | None = getattr(route.endpoint, "__livecart_handlers__", None)
    if handlers is None:
        op = get_operation(route.endpoint)
        return {m: op for m in (route.methods or set()) - {"HEAD"}}
    return {method: get_operation(handler) for method, handler in handlers.items()}
