"""``livecart webhooks listen``: a receiver for development that prints each delivery.

It answers 200 to every POST, checks the ``Livecart-Signature`` when given the
endpoint's secret, and says when an event id comes a second time (a retry or a replay:
a real receiver drops those). Point an endpoint at it, e.g. ``http://127.0.0.1:8787/``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TextIO

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from checkout.webhook_rules import SIGNATURE_HEADER, verify

SEEN_KEPT = 10_000


def listener(secret: str | None, out: TextIO = sys.stdout,
             clock: Callable[[], float] = time.time) -> Starlette:  # fmt: skip
    seen: dict[str, None] = {}

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            event = json.loads(body)
            event_id, kind = str(event["id"]), str(event["type"])
        except (ValueError, KeyError, TypeError):
            print(f"? not a livecart event: {body[:80]!r}", file=out, flush=True)
            return JSONResponse({"received": False}, status_code=400)
        check = "unchecked"
        if secret is not None:
            header = request.headers.get(SIGNATURE_HEADER, "")
            check = "signed" if verify(secret, header, body, clock()) else "BAD SIGNATURE"
        again = " (again: drop it)" if event_id in seen else ""
        seen[event_id] = None
        if len(seen) > SEEN_KEPT:
            seen.pop(next(iter(seen)))
        print(f"{kind} {event_id} [{check}]{again}", file=out)
        print(json.dumps(event.get("data"), indent=2, sort_keys=True), file=out, flush=True)
        return JSONResponse({"received": True})

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
