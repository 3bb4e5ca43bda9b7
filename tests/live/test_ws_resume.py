"""Resuming with ``?after=SEQ`` and the replay log (contract: WebSocket, ``/events``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import delete
from sqlmodel import col
from starlette.testclient import TestClient
from websockets.asyncio.client import connect

from app.settings import Settings
from live.hub import Hub
from live.models import LiveEvent
from tests.http_helpers import Api, http_client
from tests.live_server import LiveServer, serve
from tests.ws_helpers import Rest, assert_consecutive, next_frame, replayed, snapshot, until


async def _show(rest: Rest) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    creator = await rest.register("cara", "creator")
    products = [await rest.product(creator, title=f"P{i}") for i in range(3)]
    live = await rest.live(creator)
    return creator, products, live


@pytest.mark.parametrize("source", ["memory", "log"])
async def test_resume_gets_missed_events_in_order_then_resumed(
    server: LiveServer, rest: Rest, source: str
) -> None:
    """``memory``: another viewer keeps the live's channel (and its recent frames) in the
    hub; ``log``: nobody watches while events happen, so they come from the database."""
    creator, products, live = await _show(rest)
    url = server.ws_url(live["id"])
    async with contextlib.AsyncExitStack() as stack:
        if source == "memory":
            keeper = await stack.enter_async_context(connect(url))
            await snapshot(keeper)
        async with connect(url) as ws:
            first = await snapshot(ws)
            assert first["data"]["seq"] == 0
        await rest.start(creator, live["id"])  # 1
        await rest.pinned(creator, live["id"], products[0]["id"])  # 2
        assert (await rest.unpin(creator, live["id"])).status_code == 204  # 3
        await rest.pinned(creator, live["id"], products[1]["id"])  # 4
        if source == "memory":
            assert [f["seq"] for f in await until(keeper, "pinned")] == [1, 2]
            assert [f["seq"] for f in await until(keeper, "pinned")] == [3, 4]

        log = await rest.events(live["id"])
        assert_consecutive(log, 0)
        for after in (0, 1, 3):
            async with connect(server.ws_url(live["id"], after=after)) as ws:
                got = await until(ws, "resumed")
                assert got[:-1] == log[after:]
                resumed = got[-1]
                assert resumed["seq"] is None
                assert resumed["data"] == {"from": after, "to": 4}
                if after == 3:
                    # Live from here on: the next event follows with no duplicate, no gap.
                    await rest.pinned(creator, live["id"], products[2]["id"])
                    nxt = await next_frame(ws)
                    assert (nxt["type"], nxt["seq"]) == ("pinned", 5)
                    assert nxt["data"]["product"]["id"] == products[2]["id"]


async def test_resume_at_the_head_gets_resumed_at_once(server: LiveServer, rest: Rest) -> None:
    creator, products, live = await _show(rest)
    await rest.start(creator, live["id"])
    await rest.pinned(creator, live["id"], products[0]["id"])
    async with connect(server.ws_url(live["id"], after=2)) as ws:
        first = await next_frame(ws)
        assert first["type"] == "resumed"
        assert first["data"] == {"from": 2, "to": 2}
        await rest.pinned(creator, live["id"], products[1]["id"])
        nxt = await next_frame(ws)
        assert (nxt["type"], nxt["seq"]) == ("pinned", 3)


async def _prune(server: LiveServer, live_id: int, up_to: int) -> None:
    """What pruning does to old events: their rows are gone from the log."""
    async with server.state.db.write() as session:
        await session.exec(
            delete(LiveEvent).where(col(LiveEvent.live_id) == live_id, col(LiveEvent.seq) <= up_to)
        )


async def test_resume_from_before_the_log_gets_snapshot_not_recovered(
    server: LiveServer, rest: Rest
) -> None:
    creator, products, live = await _show(rest)
    await rest.start(creator, live["id"])  # 1
    await rest.pinned(creator, live["id"], products[0]["id"])  # 2
    assert (await rest.unpin(creator, live["id"])).status_code == 204  # 3
    await rest.pinned(creator, live["id"], products[1]["id"])  # 4
    pinned = await rest.pinned(creator, live["id"], products[2]["id"])  # 5
    await _prune(server, live["id"], 3)
    assert [e["seq"] for e in await rest.events(live["id"])] == [4, 5]

    # Everything after 3 is still there: a normal resume.
    async with connect(server.ws_url(live["id"], after=3)) as ws:
        got = await until(ws, "resumed")
        assert [f["seq"] for f in got] == [4, 5, None]

    for after in (0, 1, 2):
        async with connect(server.ws_url(live["id"], after=after)) as ws:
            snap = await next_frame(ws)
            assert snap["type"] == "snapshot", (after, snap)
            assert snap["data"]["recovered"] is False
            assert snap["data"]["seq"] == 5
            assert snap["data"]["pinned"] == pinned
            assert snap["data"]["live"]["status"] == "live"
            if after == 2:
                assert (await rest.unpin(creator, live["id"])).status_code == 204
                nxt = await next_frame(ws)
                assert (nxt["type"], nxt["seq"]) == ("unpinned", 6)


async def test_resume_from_ahead_of_the_log_gets_snapshot_not_recovered(
    server: LiveServer, rest: Rest
) -> None:
    creator, products, live = await _show(rest)
    await rest.start(creator, live["id"])
    await rest.pinned(creator, live["id"], products[0]["id"])
    for keep_channel in (False, True):
        async with contextlib.AsyncExitStack() as stack:
            if keep_channel:
                await snapshot(await stack.enter_async_context(connect(server.ws_url(live["id"]))))
            async with connect(server.ws_url(live["id"], after=99)) as ws:
                snap = await next_frame(ws)
                assert snap["type"] == "snapshot"
                assert snap["data"]["recovered"] is False
                head = (await rest.events(live["id"]))[-1]["seq"]
                assert snap["data"]["seq"] == head
                await rest.pinned(creator, live["id"], products[1]["id"])
                nxt = await next_frame(ws)
                assert nxt["type"] == "pinned"
                assert nxt["seq"] == snap["data"]["seq"] + 1


async def test_events_endpoint_returns_the_same_envelopes(server: LiveServer, rest: Rest) -> None:
    creator, products, live = await _show(rest)
    async with connect(server.ws_url(live["id"])) as ws:
        await snapshot(ws)
        await rest.start(creator, live["id"])
        await rest.pinned(creator, live["id"], products[0]["id"])
        await rest.pinned(
            creator, live["id"], products[1]["id"], price_cents=100, quantity=2, duration_s=900
        )
        assert (await rest.unpin(creator, live["id"])).status_code == 204
        await rest.end(creator, live["id"])
        received = await until(ws, "live_ended")
    assert [f["type"] for f in received] == [
        "live_started",
        "pinned",
        "pinned",
        "deal_ended",
        "unpinned",
        "live_ended",
    ]
    assert await rest.events(live["id"]) == received
    assert await rest.events(live["id"], after=2, limit=2) == received[2:4]
    assert await rest.events(live["id"], after=6) == []
    default = await rest.http.get(f"/api/lives/{live['id']}/events")
    assert default.status_code == 200 and default.json() == {"events": received}

    for query in ("after=-1", "after=abc", "limit=0", "limit=1001", "limit=x"):
        resp = await rest.http.get(f"/api/lives/{live['id']}/events?{query}")
        assert resp.status_code == 422, (query, resp.text)
        assert resp.json()["error"]["code"] == "validation_error"
    for odd in ("999", "abc", "-1", "1" * 20):
        resp = await rest.http.get(f"/api/lives/{odd}/events")
        assert resp.status_code == 404, (odd, resp.text)


async def test_bad_after_is_reported_and_a_snapshot_follows(server: LiveServer, rest: Rest) -> None:
    _creator, _products, live = await _show(rest)
    for bad in ("abc", "-1", "1" * 30):
        async with connect(server.ws_url(live["id"], after=bad)) as ws:
            got = await until(ws, "snapshot")
            assert [(f["type"], f["data"]["code"]) for f in got[:-1]] == [
                ("error", "invalid_after")
            ], got
            assert got[-1]["data"]["seq"] == 0


async def test_joins_and_resumes_while_events_flow_see_each_event_once(
    server: LiveServer, rest: Rest
) -> None:
    """Sockets join (fresh or with ``after``) while events are being published: each
    one then sees every later event exactly once, in order."""
    _creator, _products, live = await _show(rest)
    live_id = live["id"]
    hub = server.state.hub
    total = 100

    async def publish() -> None:
        for i in range(total):
            async with hub.transaction() as batch:
                await batch.append(live_id, "chat", {"id": i, "text": f"m{i}"})
            if i % 10 == 0:
                await asyncio.sleep(0)  # let joins interleave with the commits

    async def watch(after: int | None) -> None:
        async with connect(server.ws_url(live_id, after=after)) as ws:
            first = await next_frame(ws)
            seen: list[int] = []
            if after is None:
                assert first["type"] == "snapshot"
                last = first["data"]["seq"]
            elif first["type"] == "resumed":
                last = after
            else:
                seen.append(first["seq"])
                last = after
            while (seen[-1] if seen else last) < total:
                frame = await next_frame(ws)
                if frame["type"] == "resumed":
                    assert frame["data"]["from"] == after
                    assert frame["data"]["to"] == (seen[-1] if seen else after)
                    continue
                seen.append(frame["seq"])
            assert seen == list(range(last + 1, total + 1)), (after, seen)

    async def joins() -> None:
        watchers = []
        for i in range(16):
            head = (await rest.events(live_id, after=0, limit=1000) or [{"seq": 0}])[-1]["seq"]
            after = None if i % 3 == 0 else max(0, head - (i % 7) * 3)
            watchers.append(asyncio.create_task(watch(after)))
        await asyncio.wait_for(asyncio.gather(*watchers), 30)

    await asyncio.gather(publish(), joins())


# ---- many missed events: more than a socket's send buffer or queue holds at once


async def _chats(hub: Hub, live_id: int, count: int, size: int) -> None:
    for start in range(0, count, 100):
        async with hub.transaction() as batch:
            for i in range(start, min(count, start + 100)):
                await batch.append(live_id, "chat", {"id": i, "text": "x" * size})


@pytest.mark.parametrize(
    ("path", "count", "size"),
    [("direct", 400, 3500), ("asgi-queue", 300, 50)],
)
async def test_resume_with_many_missed_events_loses_none(
    settings: Settings, path: str, count: int, size: int
) -> None:
    """1,000 events are kept; a viewer that missed a few hundred gets every one of them."""
    overrides = {} if path == "direct" else {"ws": "websockets-sansio"}
    async with serve(replace(settings, presence_interval_s=0.1), **overrides) as server:
        async with http_client(server.url, timeout=10) as http:
            rest = Rest(http)
            creator = await rest.register("cara", "creator")
            live = await rest.live(creator, start=True)
        await _chats(server.state.hub, live["id"], count, size)
        async with connect(server.ws_url(live["id"], after=1), max_size=None) as ws:
            got = await replayed(ws)
        assert [f["type"] for f in got] == ["chat"] * count + ["resumed"]
        assert_consecutive(got[:-1], 1)
        assert got[-1]["data"] == {"from": 1, "to": count + 1}


def test_resume_with_many_missed_events_through_asgi(client: TestClient, api: Api) -> None:
    creator = api.register("cara", "creator")
    live = api.live(creator)
    hub: Hub = client.app.state.livecart.hub  # type: ignore[attr-defined]
    assert client.portal is not None
    client.portal.call(_chats, hub, live["id"], 300, 50)
    with client.websocket_connect(f"/ws/lives/{live['id']}?after=0") as ws:
        # The server reads this ping only once the replay is queued, so its pong comes
        # after every replayed frame: reading up to it never blocks, even if some are lost.
        ws.send_text('{"type": "ping"}')
        got: list[dict[str, Any]] = []
        for _ in range(1000):
            frame = json.loads(ws.receive_text())
            if frame["type"] == "pong":
                break
            if frame["type"] != "viewers":
                got.append(frame)
    assert [f["type"] for f in got] == ["chat"] * 300 + ["resumed"]
    assert [f["seq"] for f in got[:-1]] == list(range(1, 301))
