"""Operational endpoints: liveness, readiness, the OpenAPI document."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.http import operation, respond, state
from app.schemas import Health, Readiness

log = logging.getLogger("livecart")
READY_TIMEOUT_S = 2.0


@operation("Alive: the process answers", responses={200: Health}, tags=("ops",))
async def healthz(_request: Request) -> Response:
    return respond(Health(status="ok"))


@operation(
    "Ready: the database (and Redis, when configured) answer",
    responses={200: Readiness, 503: Readiness},
    tags=("ops",),
)
async def readyz(request: Request) -> Response:
    st = state(request)
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(st.db.ping(), READY_TIMEOUT_S)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready", with the reason shown
        log.warning("readiness: database check failed: %r", exc)
        checks["database"] = f"error: {type(exc).__name__}"
    if st.redis is not None:
        try:
            await asyncio.wait_for(st.redis.ping(), READY_TIMEOUT_S)
            checks["redis"] = "ok"
        except Exception as exc:
            log.warning("readiness: redis check failed: %r", exc)
            checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    body = Readiness(status="ok" if ok else "unavailable", checks=checks)
    return respond(body, 200 if ok else 503)


@operation("This document", responses={200: None}, tags=("ops",))
async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
