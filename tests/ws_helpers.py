"""Helpers for the live-hub socket tests: HTTP set-up over a real server and frame readers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.accounts import Role, create_user
from app.state import AppState
from tests.http_helpers import http_client

ENVELOPE_KEYS = {"type", "live_id", "seq", "ts", "data"}
TIMEOUT = 5.0

Frame = dict[str, Any]
Who = dict[str, Any]


def auth(who: Who | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {who['token']}"} if who else {}


@contextlib.asynccontextmanager
async def rest_for(url: str, http_timeout_s: float = 10) -> AsyncIterator[Rest]:
    """A ``Rest`` on the server at ``url`` (closed on exit)."""
    async with http_client(url, timeout=http_timeout_s) as http:
        yield Rest(http)


class Rest:
    """Set-up and actions through a server's REST API (any base URL)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def register(self, username: str, role: str = "viewer") -> Who:
        resp = await self.http.post(
            "/api/auth/register",
            json={"username": username, "password": "password123", "role": role},
        )
        assert resp.status_code == 201, resp.text
        body: Who = resp.json()
        return body

    async def product(self, who: Who, **fields: Any) -> dict[str, Any]:
        body = {"title": "Mug", "price_cents": 1299, "stock": 10, **fields}
        resp = await self.http.post("/api/products", json=body, headers=auth(who))
        assert resp.status_code == 201, resp.text
        product: dict[str, Any] = resp.json()["product"]
        return product

    async def live(self, who: Who, *, start: bool = False) -> dict[str, Any]:
        resp = await self.http.post("/api/lives", json={"title": "Show"}, headers=auth(who))
        assert resp.status_code == 201, resp.text
        live: dict[str, Any] = resp.json()["live"]
        if start:
            await self.start(who, live["id"])
        return live

    async def start(self, who: Who, live_id: int) -> None:
        resp = await self.http.post(f"/api/lives/{live_id}/start", headers=auth(who))
        assert resp.status_code == 200, resp.text

    async def end(self, who: Who, live_id: int) -> None:
        resp = await self.http.post(f"/api/lives/{live_id}/end", headers=auth(who))
        assert resp.status_code == 200, resp.text

    async def moderator(self, creator: Who, live_id: int, username: str) -> None:
        resp = await self.http.put(
            f"/api/lives/{live_id}/moderators/{username}", headers=auth(creator)
        )
        assert resp.status_code == 200, resp.text

    async def pin(
        self, who: Who | None, live_id: int, product_id: Any, deal: dict[str, Any] | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"product_id": product_id}
        if deal is not None:
            body["deal"] = deal
        return await self.http.post(f"/api/lives/{live_id}/pin", json=body, headers=auth(who))

    async def pinned(self, who: Who, live_id: int, product_id: Any, **deal: Any) -> dict[str, Any]:
        resp = await self.pin(who, live_id, product_id, deal or None)
        assert resp.status_code == 200, resp.text
        pinned: dict[str, Any] = resp.json()["pinned"]
        return pinned

    async def unpin(self, who: Who | None, live_id: int) -> httpx.Response:
        return await self.http.delete(f"/api/lives/{live_id}/pin", headers=auth(who))

    async def events(self, live_id: int, after: int = 0, limit: int = 1000) -> list[Frame]:
        resp = await self.http.get(f"/api/lives/{live_id}/events?after={after}&limit={limit}")
        assert resp.status_code == 200, resp.text
        events: list[Frame] = resp.json()["events"]
        return events

    async def get_live(self, live_id: int) -> dict[str, Any]:
        resp = await self.http.get(f"/api/lives/{live_id}")
        assert resp.status_code == 200, resp.text
        live: dict[str, Any] = resp.json()["live"]
        return live


async def make_user(state: AppState, username: str, role: Role) -> Who:
    """A user of any role (admin, staff) created straight in an in-process server's database."""
    async with state.db.write() as session:
        user = await create_user(session, username, "password123", role)
    return {"user": {"id": user.uid, "username": username}, "token": state.tokens.issue(user.uid)}


def check_envelope(frame: Frame) -> Frame:
    assert set(frame) == ENVELOPE_KEYS, frame
    assert isinstance(frame["type"], str)
    assert isinstance(frame["ts"], int) and frame["ts"] > 1_600_000_000_000, frame
    assert frame["seq"] is None or isinstance(frame["seq"], int), frame
    assert isinstance(frame["data"], dict), frame
    return frame


async def recv(ws: ClientConnection, within: float = TIMEOUT) -> Frame:
    """The next frame, whatever its type."""
    raw = await asyncio.wait_for(ws.recv(), within)
    assert isinstance(raw, str), "server frames are text"
    frame: Frame = json.loads(raw)
    return check_envelope(frame)


async def recv_raw(ws: ClientConnection, within: float = TIMEOUT) -> str:
    """The next frame that is not a ``viewers`` count, as the exact text received."""
    for _ in range(1000):
        raw = await asyncio.wait_for(ws.recv(), within)
        assert isinstance(raw, str)
        if json.loads(raw)["type"] != "viewers":
            return raw
    raise AssertionError("only viewers frames")


async def next_frame(ws: ClientConnection, within: float = TIMEOUT) -> Frame:
    """The next frame that is not a ``viewers`` count (those come whenever presence changes)."""
    frame: Frame = check_envelope(json.loads(await recv_raw(ws, within)))
    return frame


async def frames(ws: ClientConnection, count: int, within: float = TIMEOUT) -> list[Frame]:
    return [await next_frame(ws, within) for _ in range(count)]


async def until(ws: ClientConnection, type_: str, within: float = TIMEOUT) -> list[Frame]:
    """Frames (viewers counts left out) up to and including the first of ``type_``."""
    seen: list[Frame] = []
    for _ in range(10_000):
        frame = await next_frame(ws, within)
        seen.append(frame)
        if frame["type"] == type_:
            return seen
    raise AssertionError(f"no {type_} frame")


async def snapshot(ws: ClientConnection) -> Frame:
    frame = await next_frame(ws)
    assert frame["type"] == "snapshot", frame
    return frame


async def viewers_count(
    ws: ClientConnection, count: int, within: float = TIMEOUT, seen: list[Frame] | None = None
) -> Frame:
    """Wait for a ``viewers`` frame announcing ``count`` (other frames are skipped).

    Every ``viewers`` frame read on the way is appended to ``seen`` when given.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Frame | None = None
    for _ in range(10_000):
        left = deadline - loop.time()
        if left <= 0:
            break
        try:
            frame = await recv(ws, left)
        except TimeoutError:
            break
        if frame["type"] == "viewers":
            assert frame["seq"] is None and set(frame["data"]) == {"count"}, frame
            last = frame
            if seen is not None:
                seen.append(frame)
            if frame["data"]["count"] == count:
                return frame
    raise AssertionError(f"no viewers frame with count {count} (last: {last})")


async def close_code(ws: ClientConnection, within: float = TIMEOUT) -> int | None:
    """Read (and drop) frames until the server closes the socket; its close code."""
    for _ in range(100_000):
        try:
            await asyncio.wait_for(ws.recv(), within)
        except ConnectionClosed:
            return ws.close_code
    raise AssertionError("the socket stayed open")


async def send(ws: ClientConnection, payload: Any) -> None:
    await ws.send(json.dumps(payload))


def assert_consecutive(received: list[Frame], start: int | None = None) -> None:
    """Broadcast frames with seq strictly +1 each (from ``start`` + 1 if given)."""
    seqs = [f["seq"] for f in received]
    first = seqs[0] if start is None else start + 1
    assert seqs == list(range(first, first + len(seqs))), seqs


async def replayed(ws: ClientConnection, within: float = TIMEOUT) -> list[Frame]:
    """Every frame (viewers counts left out) the server queued while the socket joined.

    Sends a ``ping`` at once: the server reads it only after the join (snapshot or
    replay) is queued, so its ``pong`` marks the end — no waiting on a timeout, even
    when frames are missing.
    """
    await send(ws, {"type": "ping"})
    got: list[Frame] = []
    for _ in range(100_000):
        try:
            frame = await next_frame(ws, within)
        except ConnectionClosed as exc:
            types = [f["type"] for f in got]
            raise AssertionError(
                f"closed with {ws.close_code} after {len(got)} frames "
                f"(last seq {got[-1]['seq'] if got else None}; {types.count('resumed')} resumed)"
            ) from exc
        if frame["type"] == "pong":
            return got
        got.append(frame)
    raise AssertionError("no pong")
