"""A webhook receiver for ``bench.webhooks``, in its own process: answers 200 at once and
counts what arrived (``GET /stats``: count, distinct ids, first and last arrival).

    python -m bench.webhook_receiver PORT
"""

from __future__ import annotations

import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ids: set[str] = set()
stats = {"count": 0, "first": 0.0, "last": 0.0, "by_type": {}}


async def receive(request: Request) -> Response:
    body = await request.json()
    now = time.time()
    stats["count"] = int(stats["count"]) + 1  # type: ignore[call-overload]
    stats["first"] = stats["first"] or now
    stats["last"] = now
    by_type: dict[str, int] = stats["by_type"]  # type: ignore[assignment]
    by_type[body["type"]] = by_type.get(body["type"], 0) + 1
    ids.add(body["id"])
    return Response(status_code=200)


async def read(_request: Request) -> JSONResponse:
    return JSONResponse({**stats, "distinct_ids": len(ids)})


app = Starlette(routes=[Route("/hooks", receive, methods=["POST"]),
                        Route("/stats", read, methods=["GET"])])  # fmt: skip

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)  # fmt: skip
