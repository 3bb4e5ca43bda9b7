"""Chat and moderation over real sockets, for in-process servers and `livecart serve`
processes alike (this module holds no tests)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.live_server import Listening
from tests.ws_helpers import Frame, Rest, Who, next_frame, send, snapshot

# Generous: frames may cross two processes and Redis on a busy CI machine.
WAIT = 10.0


def ws_for(server: Listening, live_id: int, who: Who | None = None, **query: Any) -> Any:
    """A viewer socket on ``live_id``, signed in as ``who`` (anonymous without)."""
    return connect(server.ws_url(live_id, token=who["token"] if who else None, **query))


@contextlib.asynccontextmanager
async def watching(
    server: Listening, live_id: int, *whos: Who | None
) -> AsyncIterator[list[ClientConnection]]:
    """A joined socket on ``live_id`` for each of ``whos`` (None: anonymous), in order."""
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(ws_for(server, live_id, who)) for who in whos]
        for ws in sockets:
            await joined(ws)
        yield sockets


async def expect(ws: ClientConnection, type_: str, within: float = WAIT) -> Frame:
    """The next frame (viewer counts left out), which must be of ``type_``."""
    frame = await next_frame(ws, within)
    assert frame["type"] == type_, frame
    return frame


async def pong(ws: ClientConnection) -> None:
    """Ping and expect the pong next. Frames are handled in order, so a pong also means
    every frame sent before it on this socket has been fully handled."""
    await send(ws, {"type": "ping"})
    await expect(ws, "pong")


async def joined(ws: ClientConnection) -> Frame:
    """The snapshot, then a ping answered: the server has finished joining this socket."""
    snap = await snapshot(ws)
    await pong(ws)
    return snap


async def say(ws: ClientConnection, text: str, **extra: Any) -> None:
    await ws.send(json.dumps({"type": "chat", "text": text, **extra}, ensure_ascii=False))


async def refused(ws: ClientConnection, code: str) -> dict[str, Any]:
    """The next frame is the private error ``code``, with a message."""
    frame = await expect(ws, "error")
    assert frame["seq"] is None, frame
    data: dict[str, Any] = frame["data"]
    assert data["code"] == code, data
    assert isinstance(data["message"], str) and data["message"], data
    return data


async def heard(ws: ClientConnection, who: Who, text: str) -> dict[str, Any]:
    """The next frame is ``who``'s chat message ``text``; its data."""
    frame = await expect(ws, "chat")
    assert isinstance(frame["seq"], int), frame
    data: dict[str, Any] = frame["data"]
    assert (data["user"]["username"], data["text"]) == (who["user"]["username"], text), data
    return data


async def act(ws: ClientConnection, frame: dict[str, Any]) -> list[Frame]:
    """Send a moderation frame and wait until it has been handled (mute, ban... are not
    acknowledged to the sender: their effect shows elsewhere). The frames that came
    before the pong (say, the broadcast the action caused) are returned."""
    await send(ws, frame)
    await send(ws, {"type": "ping"})
    seen: list[Frame] = []
    while (got := await next_frame(ws, WAIT))["type"] != "pong":
        assert got["type"] != "error", got
        seen.append(got)
    return seen


def check_chat(frame: Frame, who: Who, text: str) -> dict[str, Any]:
    assert frame["type"] == "chat", frame
    assert isinstance(frame["seq"], int), frame
    data: dict[str, Any] = frame["data"]
    assert set(data) == {"id", "user", "text", "at"}, data
    assert data["user"] == {"id": who["user"]["id"], "username": who["user"]["username"]}
    assert data["text"] == text
    assert datetime.fromisoformat(data["at"].replace("Z", "+00:00")).tzinfo is not None
    return data


async def chat_log(rest: Rest, live_id: int, limit: int = 200) -> list[dict[str, Any]]:
    resp = await rest.http.get(f"/api/lives/{live_id}/chat", params={"limit": limit})
    assert resp.status_code == 200, resp.text
    messages: list[dict[str, Any]] = resp.json()["messages"]
    return messages


async def setup(rest: Rest, *viewers: str) -> tuple[Who, int, list[Who]]:
    """A creator ``cara`` with a started live, and signed-up ``viewers``."""
    creator = await rest.register("cara", "creator")
    live = await rest.live(creator, start=True)
    return creator, live["id"], [await rest.register(name) for name in viewers]
