"""How livecart runs under uvicorn: one place for the server options, used by the CLI,
the tests that need a real server and the benchmarks."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.supervisors.multiprocess import Multiprocess

from app import logredact
from app.httpproto import LivecartHttpProtocol, set_limits
from app.routes.ws import MAX_FRAME_BYTES
from app.settings import Settings
from app.stopping import DEADLINE_S, GRACE_S, Stopping
from app.wsproto import LivecartWebSocketProtocol, log_connections

WS_PROTOCOL = "app.wsproto:LivecartWebSocketProtocol"
# Request-header deadline and per-address connection cap (limits set by adopt_uvicorn).
HTTP_PROTOCOL = "app.httpproto:LivecartHttpProtocol"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config`` (besides app, host, port)."""
    return {
        "http": HTTP_PROTOCOL,
        "ws": WS_PROTOCOL,
        # Frames over 4 KiB are refused by the protocol itself with close code 1009.
        "ws_max_size": MAX_FRAME_BYTES,
        # Pre-encoded broadcast frames are only valid uncompressed.
        "ws_per_message_deflate": False,
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "proxy_headers": True,
        # No "server: uvicorn" on every answer: it tells a scanner what to try.
        "server_header": False,
        "access_log": settings.access_log,
        "lifespan": "on",
        # With --workers, uvicorn restarts a child that does not answer within this
        # many seconds; its default (5) kills children still importing on a busy box.
        "timeout_worker_healthcheck": 30,
        # At SIGTERM, requests in flight get this long before they are cancelled (uvicorn
        # waits for ever by default); the whole stop is bounded by app.stopping.
        "timeout_graceful_shutdown": GRACE_S,
    }


def supervise(config: Config) -> None:
    """``--workers N``: uvicorn's supervisor, with ``app.stopping``'s rule: at the first
    SIGTERM/SIGINT it stops its worker processes (each bounded by its own deadline) and
    exits within a little more than that; a second signal kills them and exits at once."""
    if not logging.getLogger().handlers:  # uvicorn's Config replaced the CLI's logging
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sock = config.bind_socket()
    supervisor = Multiprocess(config, sockets=[sock])
    queue_signal = signal.getsignal(signal.SIGTERM)  # uvicorn's: queues it for its loop

    def kill_workers() -> None:
        for process in supervisor.processes:
            with contextlib.suppress(Exception):
                process.kill()

    def on_first(sig: int) -> None:
        if callable(queue_signal):
            queue_signal(sig, None)

    Stopping(
        f"livecart serve supervisor [{os.getpid()}]",
        deadline_s=DEADLINE_S + 2,  # the workers' own deadlines first
        before_exit=kill_workers,
    ).install(on_first)
    supervisor.run()


def adopt_uvicorn(config: object, settings: Settings) -> bool:
    """Give a plain ``uvicorn app.main:app`` what ``livecart serve`` passes as options.

    uvicorn resolves its protocols and reads ``ws_max_size`` per connection from its
    ``Config``, after the app's lifespan has started (before it listens). So at startup
    the app sets the 4 KiB frame cap (otherwise uvicorn buffers frames up to 16 MiB
    before the app can refuse them), turns per-message deflate off and, when a protocol
    was left on ``auto``, installs livecart's: the WebSocket one with its pre-encoded
    frame path, the HTTP one with its header deadline and per-address connection cap
    (app/httpproto.py). A protocol named explicitly (``--ws wsproto``) is kept: the app
    then falls back to queued sends, and the cap still holds. The ``server: uvicorn``
    header is dropped (uvicorn re-reads ``encoded_headers`` every second).

    True when ``config`` is a uvicorn ``Config`` and was adjusted.
    """
    log_connections(settings.access_log)
    if not isinstance(config, Config):
        return False
    set_limits(config, settings.max_connections_per_address, settings.header_timeout_s)
    if config.http == "auto":
        config.http_protocol_class = LivecartHttpProtocol
    if config.timeout_graceful_shutdown is None:  # as livecart serve: bounded, see stopping
        config.timeout_graceful_shutdown = GRACE_S
    if config.server_header:
        config.server_header = False
        config.encoded_headers = [h for h in config.encoded_headers if h != (b"server", b"uvicorn")]
    if config.ws_protocol_class is None:
        return True
    config.ws_max_size = min(config.ws_max_size, MAX_FRAME_BYTES)
    config.ws_per_message_deflate = False
    if config.ws == "auto":
        config.ws_protocol_class = LivecartWebSocketProtocol
        config.ws_ping_interval = settings.ws_ping_interval_s
        config.ws_ping_timeout = settings.ws_ping_timeout_s
    return True


class AdoptServer:
    """ASGI middleware: at lifespan startup, ``adopt_uvicorn`` the server running the app.

    The lifespan's ``receive`` is a method of uvicorn's lifespan object, which holds the
    ``Config``; under any other server nothing happens.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            logredact.install()  # after uvicorn configured logging: no token in any line
            owner = getattr(receive, "__self__", None)
            adopt_uvicorn(getattr(owner, "config", None), self.settings)
        await self.app(scope, receive, send)
