"""Viewers that stop reading are evicted (4408) without delaying anyone; dead peers are
found by ping/pong and leave the viewer count (contract: WebSocket close codes, viewers)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from dataclasses import replace
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app import wsproto
from app.settings import Settings
from live.hub import Hub
from tests.live_server import LiveServer, serve
from tests.ws_helpers import (
    Frame,
    assert_consecutive,
    auth,
    next_frame,
    replayed,
    rest_for,
    snapshot,
    viewers_count,
)

# Large frames fill the socket buffers (several MB on loopback) in few database writes.
CHAT = {"text": "x" * 30_000}


async def slow_socket(server: LiveServer, live_id: int, **query: Any) -> ClientConnection:
    """A WebSocket whose receive side is as small as the kernel allows."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: fixes the window
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    # max_queue=1: the client library itself stops reading from the socket once one
    # frame waits, so not calling recv() really stops reading.
    return await connect(server.ws_url(live_id, **query), sock=sock, max_queue=1)


async def publish_chats(hub: Hub, live_id: int, count: int) -> int:
    """``count`` large chat events, committed in one transaction (quicker than one by one)."""
    async with hub.transaction() as batch:
        for _ in range(count):
            await batch.append(live_id, "chat", CHAT)
    return count


async def collect(ws: ClientConnection, into: list[Frame], last_seq: asyncio.Future[int]) -> None:
    """Read broadcast frames into ``into`` until the one with seq ``await last_seq``."""
    while True:
        frame = await next_frame(ws, within=20)
        if frame["seq"] is not None:
            into.append(frame)
            if last_seq.done() and frame["seq"] >= last_seq.result():
                return


async def drain_until_closed(ws: ClientConnection) -> tuple[list[Frame], int | None]:
    """Everything still buffered for a socket the server closed, and the close code."""
    got: list[Frame] = []
    for _ in range(100_000):
        try:
            frame = await next_frame(ws, within=10)
        except ConnectionClosed:
            return got, ws.close_code
        got.append(frame)
    raise AssertionError("never closed")


@pytest.mark.parametrize("path", ["direct", "asgi-queue"])
async def test_viewer_that_stops_reading_is_evicted_4408_and_others_keep_up(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setattr(wsproto.LivecartWebSocketProtocol, "high_water", 64 * 1024)
    overrides = {} if path == "direct" else {"ws": "websockets-sansio"}
    async with serve(replace(settings, presence_interval_s=0.1), **overrides) as server:
        async with rest_for(server.url) as rest:
            creator = await rest.register("cara", "creator")
            live = await rest.live(creator)
        live_id = live["id"]
        hub = server.state.hub
        slow = await slow_socket(server, live_id)
        reader: asyncio.Task[None] | None = None
        try:
            await snapshot(slow)
            async with connect(server.ws_url(live_id)) as fast:
                await snapshot(fast)
                assert len(hub.viewers(live_id)) == 2
                fast_frames: list[Frame] = []
                last: asyncio.Future[int] = asyncio.get_running_loop().create_future()
                reader = asyncio.create_task(collect(fast, fast_frames, last))

                published = 0
                for _ in range(400):  # far more than any buffer holds; stops at the eviction
                    published += await publish_chats(hub, live_id, 10)
                    if len(hub.viewers(live_id)) == 1:
                        break
                assert len(hub.viewers(live_id)) == 1, "the slow viewer was never evicted"
                # The others go on receiving after the eviction.
                published += await publish_chats(hub, live_id, 5)
                last.set_result(published)
                await asyncio.wait_for(reader, 20)
                assert [f["type"] for f in fast_frames] == ["chat"] * published
                assert_consecutive(fast_frames, 0)
                assert all(f["data"] == CHAT for f in fast_frames)

                # Reading again, the slow viewer gets what was already on its way, then 4408.
                got, code = await drain_until_closed(slow)
                assert code == 4408
                chats = [f for f in got if f["seq"] is not None]
                assert chats, "nothing reached the slow viewer before the eviction"
                assert_consecutive(chats, 0)
                assert chats[-1]["seq"] < published

                # ... and resumes where it stopped: the rest in order, then resumed.
                after = chats[-1]["seq"]
                async with connect(server.ws_url(live_id, after=after), max_size=None) as again:
                    missed = await replayed(again)
                assert [f["type"] for f in missed] == ["chat"] * (published - after) + ["resumed"]
                assert_consecutive(missed[:-1], after)
                assert missed[-1]["data"] == {"from": after, "to": published}
        finally:
            if reader is not None:
                reader.cancel()
            await slow.close()


async def test_dead_peer_is_dropped_by_ping_timeout_and_leaves_the_count(
    settings: Settings,
) -> None:
    async with (
        serve(
            # A ping every 0.2 s; 0.4 s to answer (the watcher's client library answers at
            # once, but shares this test's event loop with the server).
            replace(settings, presence_interval_s=0.1),
            ws_ping_interval=0.2,
            ws_ping_timeout=0.4,
        ) as server,
        rest_for(server.url) as rest,
    ):
        creator = await rest.register("cara", "creator")
        live = await rest.live(creator, start=True)
        async with connect(server.ws_url(live["id"])) as watcher:
            await snapshot(watcher)
            await viewers_count(watcher, 1)

            # A peer that completes the handshake by hand and then never answers a ping.
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                key = base64.b64encode(os.urandom(16)).decode()
                writer.write(
                    (
                        f"GET /ws/lives/{live['id']} HTTP/1.1\r\n"
                        f"Host: 127.0.0.1:{server.port}\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                    ).encode()
                )
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                assert head.startswith(b"HTTP/1.1 101"), head

                await viewers_count(watcher, 2)
                # The watcher answers pings (its client library does); the raw peer does not.
                await viewers_count(watcher, 1, within=5)
                resp = await rest.http.get(f"/api/lives/{live['id']}/stats", headers=auth(creator))
                assert resp.status_code == 200
                assert resp.json()["viewers"] == 1
                assert resp.json()["peak_viewers"] == 2

                # The server really closed the connection (it only sent, never heard back).
                for _ in range(10_000):
                    if not await asyncio.wait_for(reader.read(65536), 5):
                        break
                else:
                    raise AssertionError("the dead peer's connection stayed open")
            finally:
                writer.close()

            # The live socket is unharmed by the keepalive.
            await send_ping(watcher)


async def send_ping(ws: ClientConnection) -> None:
    await ws.send('{"type": "ping"}')
    assert (await next_frame(ws))["type"] == "pong"
