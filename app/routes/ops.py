"""Operational endpoints: liveness, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import metrics as app_metrics
from app.errors import ApiError
from app.http import operation, respond, state
from app.schemas import Health, Readiness

log = logging.getLogger("livecart")
READY_TIMEOUT_S = 2.0
Ping = Callable[[], Awaitable[object]]


@operation("Alive: the process answers", responses={200: Health}, tags=("ops",))
async def healthz(_request: Request) -> Response:
    return respond(Health(status="ok"))


@operation(
    "Ready: the database (and Redis, when configured) answer",
    responses={200: Readiness, 503: Readiness},
    tags=("ops",),
)
async def readyz(request: Request) -> Response:
    checks: dict[str, Ping] = {"database": state(request).db.ping}
    if (redis := state(request).redis) is not None:
        checks["redis"] = redis.ping
    answers = {name: await _check(name, ping) for name, ping in checks.items()}
    ok = all(v == "ok" for v in answers.values())
    body = Readiness(status="ok" if ok else "unavailable", checks=answers)
    return respond(body, 200 if ok else 503)


async def _check(name: str, ping: Ping) -> str:
    """``ok``, or the error's class name: any failure means "not ready", with the reason."""
    try:
        await asyncio.wait_for(ping(), READY_TIMEOUT_S)
    except Exception as exc:
        log.warning("readiness: %s check failed: %r", name, exc)
        return f"error: {type(exc).__name__}"
    return "ok"


def require_metrics_token(request: Request, token: str) -> None:
    """``Authorization: Bearer <token>`` with exactly ``token``, else ``ApiError`` 401."""
    header = request.headers.get("authorization")
    challenge = {"WWW-Authenticate": "Bearer"}
    if header is None:
        raise ApiError(401, "authentication_required", "send the metrics token as "
                       "'Authorization: Bearer <token>'", headers=challenge)  # fmt: skip
    scheme, _, sent = header.partition(" ")
    # The header's raw bytes (Starlette decodes headers as latin-1) against the token's UTF-8.
    sent_bytes = sent.strip().encode("latin-1")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent_bytes, token.encode()):
        raise ApiError(401, "invalid_token", "wrong metrics token", headers=challenge)


@operation(
    "Prometheus metrics (text format); with LIVECART_METRICS_TOKEN set, send it as a bearer token",
    responses={200: None, 401: None},
    tags=("ops",),
)
async def metrics(request: Request) -> Response:
    st = state(request)
    if st.settings.metrics_token is not None:
        require_metrics_token(request, st.settings.metrics_token)
    return Response(await app_metrics.scrape(st), media_type=CONTENT_TYPE_LATEST)


@operation("This document", responses={200: None}, tags=("ops",))
async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
