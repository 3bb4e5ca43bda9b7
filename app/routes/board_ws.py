"""``/ws/fulfillment``: the staff board's socket — every order change, as it happens.

Sign in as on the live socket (the ``livecart`` and ``livecart.token.<TOKEN>``
subprotocols, or ``?token=``); staff and admins only: no or a bad token closes it with
4401, another role with 4403. Then the socket receives an ``order`` frame (the order
object, as ``GET /api/orders/{id}`` shows it) for every order placed or changed in any
process — the same frame its buyer gets — and a ``resync`` frame when this process may
have missed some (its broker reconnected): read the board again. It answers ``ping``
with ``pong`` and ignores anything else it is sent. At most once, like every frame
without a seq: open the socket first, then read ``GET /api/fulfillment/orders``.

A socket that stops reading while 1,000 frames wait for it is closed with 4408.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app import auth
from app.board import BoardSocket
from app.errors import ApiError
from app.permissions import Action, allowed
from app.routes.ws import SUBPROTOCOL, offered_token
from app.state import AppState
from live import close_codes
from live.frames import Frame

log = logging.getLogger("livecart.board")


async def _signed_in_staff(state: AppState, websocket: WebSocket) -> int | None:
    """None when staff may watch the board, else the close code."""
    token = offered_token(websocket)
    if not token:
        return close_codes.BAD_TOKEN
    try:
        user, _claims = await auth.check_token(state, token)
    except ApiError:
        return close_codes.BAD_TOKEN
    return None if allowed(user, Action.FULFIL) else close_codes.BANNED


async def board_socket(websocket: WebSocket) -> None:
    """Never lets an exception out: after ``accept`` an ASGI server can only close."""
    state: AppState = websocket.app.state.livecart
    offered = websocket.scope.get("subprotocols") or ()
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    refused = await _signed_in_staff(state, websocket)
    if refused is not None:
        with contextlib.suppress(Exception):
            await websocket.close(refused, "staff only")
        return
    sock = BoardSocket(websocket)
    state.board.sockets.add(sock)
    writer = asyncio.create_task(sock.write(), name="livecart-board-writer")
    try:
        await _read(websocket, sock)
    except Exception:  # a bug, or the socket broke: this socket only
        log.debug("staff board socket ended", exc_info=True)
    finally:
        state.board.sockets.discard(sock)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer


async def _read(websocket: WebSocket, sock: BoardSocket) -> None:
    """Answer pings until the client goes (or the socket is dropped)."""
    while not sock.dropped:
        try:
            text = await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            return
        try:
            kind = json.loads(text).get("type")
        except (ValueError, AttributeError, RecursionError):
            continue
        if kind == "ping":
            sock.offer(Frame.make("pong", None, {}).text)


routes = [WebSocketRoute("/ws/fulfillment", board_socket)]
