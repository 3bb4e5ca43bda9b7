"""How livecart runs under uvicorn: one place for the server options, used by the CLI,
the tests that need a real server and the benchmarks."""

from __future__ import annotations

from typing import Any

from app.routes.ws import MAX_FRAME_BYTES
from app.settings import Settings

WS_PROTOCOL = "app.wsproto:LivecartWebSocketProtocol"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config`` (besides app, host, port)."""
    return {
        "ws": WS_PROTOCOL,
        # Frames over 4 KiB are refused by the protocol itself with close code 1009.
        "ws_max_size": MAX_FRAME_BYTES,
        # Pre-encoded broadcast frames are only valid uncompressed.
        "ws_per_message_deflate": False,
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "proxy_headers": True,
        "access_log": settings.access_log,
        "lifespan": "on",
        # With --workers, uvicorn restarts a child that does not answer within this
        # many seconds; its default (5) kills children still importing on a busy box.
        "timeout_worker_healthcheck": 30,
    }
