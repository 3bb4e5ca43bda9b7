"""``/ws/lives/{id}``: the live's WebSocket.

Sign in by offering the subprotocols ``livecart`` and ``livecart.token.<TOKEN>``
(kept out of URLs, so out of access logs), or with ``?token=`` for older clients;
no token = anonymous, read-only. Optionally
``&after=SEQ`` to resume. The socket is accepted first so browsers can see the
close codes (``live.close_codes``): 1013 try again later (overload, socket caps,
a busy database), 4401 bad token, 4403 banned, 4404 unknown live, 4408 evicted
for not reading, 1009 frame over 4 KiB. A bad client frame gets an ``error``
frame and the socket stays open; a flood is throttled for that socket alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from app import auth, feed
from app.accounts import User
from app.admission import Ticket
from app.errors import ERROR_EXTRAS, ApiError, domain_details
from app.http import parse_id
from app.state import AppState
from app.tokens import Claims
from app.ws_frames import HANDLERS
from app.wssinks import DirectSink, discard, sink_for
from checkout.errors import CheckoutError
from live import close_codes, metrics
from live.chat import retry_after
from live.errors import Banned, LiveError, LiveNotFound, Unavailable
from live.frames import Frame
from live.ratelimit import TokenBucket
from live.served import Viewer
from live.sinks import QueuedSink

log = logging.getLogger("livecart.ws")

MAX_FRAME_BYTES = 4096
SUBPROTOCOL = "livecart"
TOKEN_SUBPROTOCOL = "livecart.token."  # + the token: itsdangerous tokens are valid tokens
# Client frames: 5 a second sustained, bursts of 20; beyond that refused, one error a second.
FRAME_RATE, FRAME_BURST = 5.0, 20.0


class FrameError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Session:
    """One connected socket: reads client frames and answers them."""

    def __init__(
        self,
        state: AppState,
        websocket: WebSocket,
        viewer: Viewer,
        user: User | None,
        sink: DirectSink | QueuedSink,
        claims: Claims | None = None,
    ) -> None:
        self.state = state
        self.sink = sink
        self.websocket = websocket
        self.viewer = viewer
        self.user = user
        self.claims = claims  # the token's: checked again before every frame acted on
        self.bucket = TokenBucket(FRAME_RATE, FRAME_BURST)
        self._last_throttle_error = 0.0

    def reply(self, type_: str, data: dict[str, Any]) -> None:
        self.state.hub.offer(self.viewer, Frame.make(type_, self.viewer.live_id, data))

    def error(self, code: str, message: str, **extra: Any) -> None:
        self.reply("error", {"code": code, "message": message, **extra})

    async def recheck(self) -> bool:
        """Refresh ``user`` from the token; False (and the socket closing with 4401,
        after a ``signed_out`` frame) when the token has been revoked since."""
        if self.claims is None or self.viewer.closed:
            return not self.viewer.closed
        try:
            self.user = await auth.recheck(self.state, self.claims)
        except ApiError as exc:
            self.reply("signed_out", {"message": exc.message, "close": close_codes.BAD_TOKEN})
            self.state.hub.evict(self.viewer, close_codes.BAD_TOKEN, "signed out")
            return False
        return True

    async def run(self) -> None:
        closing = False
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if closing:
                continue  # waiting for the close handshake to finish
            text = message.get("text")
            raw: bytes = text.encode() if text is not None else (message.get("bytes") or b"")
            if len(raw) > MAX_FRAME_BYTES:
                self.state.hub.leave(self.viewer)
                self.viewer.sink.close(close_codes.TOO_BIG, "frame over 4 KiB")
                closing = True
                continue
            wait = self.bucket.take()
            if wait:
                self._throttled(wait)
                continue
            await self.handle(raw, is_text=text is not None)

    def _throttled(self, wait: float) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last_throttle_error >= 1.0:
            self._last_throttle_error = now
            self.error("rate_limited", "too many frames; slow down", retry_after=retry_after(wait))

    async def handle(self, raw: bytes, *, is_text: bool) -> None:
        try:
            if not is_text:
                raise FrameError("invalid_frame", "send JSON in text frames")
            try:
                payload = json.loads(raw)
            except (ValueError, RecursionError):  # RecursionError: nested too deep ([[[…]]])
                raise FrameError("invalid_json", "the frame is not valid JSON") from None
            if not isinstance(payload, dict):
                raise FrameError("invalid_frame", "a frame is a JSON object")
            kind = payload.get("type")
            if not isinstance(kind, str):
                raise FrameError("invalid_frame", "a frame needs a string 'type'")
            handler = HANDLERS.get(kind)
            if handler is None:
                raise FrameError("unknown_type", f"unknown frame type {kind[:40]!r}")
            # The account as it is now (role, revocation), not as it was at join.
            if kind == "ping" or await self.recheck():
                await handler(self, payload)
        except FrameError as exc:
            self.error(exc.code, exc.message)
        except ApiError as exc:
            self.error(exc.code, exc.message, **({"fields": exc.fields} if exc.fields else {}))
        except (LiveError, CheckoutError) as exc:
            fields, extra = domain_details(exc, FRAME_EXTRAS)
            self.error(exc.code, exc.message, **extra, **({"fields": fields} if fields else {}))
        except PoolTimeout:  # every database connection stayed busy: too much at once
            self.error("busy", "the server is busy; retry shortly", retry_after=1)
        except ValidationError as exc:
            fields = {
                ".".join(str(p) for p in err["loc"]) or "frame": err["msg"] for err in exc.errors()
            }
            self.error("validation_error", "the frame has invalid fields", fields=fields)
        except Exception:  # a bug: report it to this socket only, keep the socket open
            log.exception("error handling a client frame")
            self.error("internal_error", "the frame could not be handled")


# Error data a client can act on, copied into the error frame.
FRAME_EXTRAS = ("retry_after", *ERROR_EXTRAS)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(code, reason)


def _parse_after(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ValueError(raw)
    return int(raw)


class Refused(Exception):
    """The socket is closed with ``code`` before it joins; counted under ``reason``."""

    def __init__(self, code: int, reason: str, text: str) -> None:
        super().__init__(text)
        self.code, self.reason, self.text = code, reason, text


BUSY = "server busy, try again later"
# Failures of a backing service during a join: transient, so the viewer retries (1013).
TRANSIENT = (TimeoutError, SQLAlchemyError, RedisError, OSError, Unavailable)


async def _sign_in(
    state: AppState, ticket: Ticket, token: str | None
) -> tuple[User | None, Claims | None]:
    if not token:
        return None, None
    try:
        user, claims = await auth.check_token(state, token)
    except ApiError as exc:
        raise Refused(close_codes.BAD_TOKEN, "bad_token", exc.code) from None
    if (why := state.admission.identify(ticket, user.uid)) is not None:
        raise Refused(close_codes.TRY_AGAIN_LATER, why, "too many sockets for this account")
    return user, claims


def offered_token(websocket: WebSocket) -> str | None:
    """The token from a ``livecart.token.<TOKEN>`` subprotocol, else from ``?token=``."""
    protocols: list[str] = websocket.scope.get("subprotocols") or []
    for protocol in protocols:
        if protocol.startswith(TOKEN_SUBPROTOCOL):
            return protocol[len(TOKEN_SUBPROTOCOL) :]
    return websocket.query_params.get("token")


async def _join(state: AppState, websocket: WebSocket, ticket: Ticket) -> Session:
    """Sign in, attach to the live and send the first frame(s); the session to run."""
    try:
        live_id = parse_id(str(websocket.path_params["id"]), "live")
    except ApiError:
        raise Refused(close_codes.UNKNOWN_LIVE, "unknown_live", "unknown live") from None
    user, claims = await _sign_in(state, ticket, offered_token(websocket))
    sink = sink_for(websocket)
    viewer = Viewer(live_id=live_id, user_id=user.uid if user else None, sink=sink)
    session = Session(state, websocket, viewer, user, sink, claims)
    try:
        after = _parse_after(websocket.query_params.get("after"))
    except ValueError:
        after = None
        session.error("invalid_after", "after must be a non-negative integer seq")
    try:
        await state.hub.join(viewer, after, lambda: feed.snapshot(state, live_id))
    except BaseException as exc:
        await discard(sink)  # every failed join: a queued sink has a writer task to stop
        if isinstance(exc, LiveNotFound):
            raise Refused(close_codes.UNKNOWN_LIVE, "unknown_live", "unknown live") from None
        if isinstance(exc, Banned):
            raise Refused(close_codes.BANNED, "banned", "banned") from None
        raise
    metrics.JOINS.labels("resume" if after is not None else "snapshot").inc()
    # Revoked while joining? The announcement missed this socket (not yet listed).
    await session.recheck()
    return session


def _address(websocket: WebSocket) -> str:
    client = websocket.client
    return client.host if client is not None else "unknown"


async def live_socket(websocket: WebSocket) -> None:
    """Never lets an exception out: after ``accept`` an ASGI server can only close."""
    state: AppState = websocket.app.state.livecart
    began = time.perf_counter()
    # Browsers fail a socket that offered subprotocols when none is chosen; the token
    # protocol is never echoed back.
    offered = websocket.scope.get("subprotocols") or ()
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    ticket = state.admission.admit(_address(websocket))
    if isinstance(ticket, str):
        metrics.REFUSALS.labels(ticket).inc()
        await _close(websocket, close_codes.TRY_AGAIN_LATER, BUSY)
        return
    try:
        try:
            async with asyncio.timeout(state.settings.join_timeout_s):
                session = await _join(state, websocket, ticket)
        except Refused as exc:
            metrics.REFUSALS.labels(exc.reason).inc()
            await _close(websocket, exc.code, exc.text)
            return
        except TRANSIENT as exc:
            log.warning("join refused, try again later: %r", exc)
            metrics.REFUSALS.labels(
                "pool" if isinstance(exc, SQLAlchemyError) else "overload"
            ).inc()
            await _close(websocket, close_codes.TRY_AGAIN_LATER, BUSY)
            return
        state.admission.joined(ticket)
        metrics.JOIN_SECONDS.observe(time.perf_counter() - began)
        await _serve(state, session)
    except Exception:  # a bug: close this socket alone, never answer HTTP on it
        log.exception("viewer socket failed")
        await _close(websocket, close_codes.INTERNAL_ERROR, "internal error")
    finally:
        state.admission.release(ticket)


async def _serve(state: AppState, session: Session) -> None:
    metrics.SOCKETS.inc()
    try:
        await session.run()
    finally:
        metrics.SOCKETS.dec()
        state.hub.leave(session.viewer)
        await discard(session.sink)


routes = [WebSocketRoute("/ws/lives/{id}", live_socket)]
