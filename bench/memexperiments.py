"""Experiments for ``bench/memprofile.py --experiment``: suggested server changes, as patches.

Nothing here is used by livecart. (``handshake``, ``queue`` and ``route`` have since
been adopted by the server: ``app.wsproto`` and ``app.factory.LivecartApp``; they
remain here to measure against older commits.) Each experiment patches the livecart app *in
the memprofile process only*, to measure how much memory per idle viewer a
change suggested in docs/benchmarks.md would save before anyone writes it:

- ``session``: ``live_socket`` keeps its closed ``AsyncSession`` alive as the local
  ``db_session`` for the life of the socket. Simulated by handing out sessions
  through a handle that lets go of the session when the ``async with`` ends.
- ``handshake``: uvicorn's protocol keeps the handshake ``Request`` and
  ``Response`` (two ``Headers``) for the life of the connection; dropped after accept.
- ``queue``: uvicorn's protocol has an ``asyncio.Queue`` (three deques and an
  Event with a deque) and a ``writable`` Event (one more deque) per connection,
  ~3.8 KB of mostly empty deque blocks; replaced by small list/future versions.
- ``route``: the viewer socket runs under 17 nested coroutines (middleware,
  router, exception wrappers); ``/ws/lives/{id}`` is dispatched in front of the
  Starlette stack instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any


def _protocol(names: list[str]) -> type:
    from app.wsproto import LeanEvent, LeanQueue, LivecartWebSocketProtocol

    class ExperimentProtocol(LivecartWebSocketProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if "queue" in names:
                self.queue = LeanQueue()  # type: ignore[assignment]
                self.writable = LeanEvent()  # type: ignore[assignment]

        async def send(self, message: Any) -> None:
            await super().send(message)
            if "handshake" in names and message["type"] == "websocket.accept":
                self.request = None  # type: ignore[assignment]
                self.response = None  # type: ignore[assignment]

    return ExperimentProtocol


def _session_handles() -> None:
    from app.db import Database

    original = Database.read

    class Handle:
        """Forwards to the session inside the block; holds nothing after it."""

        __slots__ = ("_session",)

        def __init__(self, session: Any) -> None:
            self._session = session

        def __getattr__(self, name: str) -> Any:
            return getattr(self._session, name)

    @contextlib.asynccontextmanager
    async def read(self: Database) -> AsyncIterator[Any]:
        async with original(self) as session:
            handle = Handle(session)
            try:
                yield handle
            finally:
                handle._session = None

    Database.read = read  # type: ignore[method-assign]


def _route_in_front(app: Any) -> Any:
    from starlette.websockets import WebSocket

    from app.routes.ws import live_socket

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            parts = scope["path"].split("/")
            if len(parts) == 4 and parts[1] == "ws" and parts[2] == "lives":
                scope["app"] = app
                scope["path_params"] = {"id": parts[3]}
                await live_socket(WebSocket(scope, receive, send))
                return
        await app(scope, receive, send)

    return asgi


def apply(names: list[str], app: Any, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    if "session" in names:
        _session_handles()
    if "handshake" in names or "queue" in names:
        options = {**options, "ws": _protocol(names)}
    if "route" in names:
        app = _route_in_front(app)
    return app, options
