"""``/ws/lives/{id}`` over real sockets: auth, the envelope, the snapshot, seq, pings,
frame-size limits, bad client frames, flooding, presence and fan-out (contract: WebSocket)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect

from tests.http_helpers import Api
from tests.live_server import LiveServer
from tests.ws_helpers import (
    Rest,
    Who,
    assert_consecutive,
    auth,
    check_envelope,
    close_code,
    frames,
    next_frame,
    recv,
    recv_raw,
    send,
    snapshot,
    until,
    viewers_count,
)


async def test_snapshot_first_with_live_pinned_viewers_chat_and_seq(
    server: LiveServer, rest: Rest
) -> None:
    creator = await rest.register("cara", "creator")
    product = await rest.product(creator, title="Lamp", price_cents=2500, stock=4)
    live = await rest.live(creator)
    async with connect(server.ws_url(live["id"])) as ws:
        first = await recv(ws)  # the very first frame, whatever its type
        assert first["type"] == "snapshot"
        assert first["live_id"] == live["id"]
        assert first["seq"] is None
        data = first["data"]
        assert {"live", "pinned", "viewers", "recent_chat", "seq"} <= set(data)
        assert data["live"]["id"] == live["id"]
        assert data["live"]["status"] == "scheduled"
        assert data["pinned"] is None
        assert data["viewers"] == 1  # this socket counts
        assert data["recent_chat"] == []
        assert data["seq"] == 0
        assert "recovered" not in data or data["recovered"] is not False
        rest_live = await rest.get_live(live["id"])
        assert {k: v for k, v in data["live"].items() if k != "viewers"} == {
            k: v for k, v in rest_live.items() if k != "viewers"
        }

        await rest.start(creator, live["id"])
        pinned = await rest.pinned(creator, live["id"], product["id"])
        got = await frames(ws, 2)
        assert [f["type"] for f in got] == ["live_started", "pinned"]
        assert [f["seq"] for f in got] == [1, 2]
        assert got[1]["data"] == pinned

        # A later viewer's snapshot reflects the pin and the seq it was taken at.
        fan = await rest.register("fan", "viewer")
        async with connect(server.ws_url(live["id"], token=fan["token"])) as ws2:
            later = await snapshot(ws2)
            assert later["data"]["seq"] == 2
            assert later["data"]["live"]["status"] == "live"
            assert later["data"]["pinned"] == pinned
            assert later["data"]["viewers"] == 2
            assert pinned["product"]["id"] == product["id"]


async def test_close_codes_4401_bad_token_and_4404_unknown_live(
    server: LiveServer, rest: Rest
) -> None:
    creator = await rest.register("cara", "creator")
    live = await rest.live(creator)
    for bad in ("garbage", creator["token"] + "x", "a.b.c"):
        async with connect(server.ws_url(live["id"], token=bad)) as ws:
            assert await close_code(ws) == 4401, bad
    for live_id in ["999", "abc", "-1", "0", "1" * 20, "1.5", "%20"]:
        async with connect(server.ws_url(live_id)) as ws:
            assert await close_code(ws) == 4404, live_id
    # A bad token is reported before the live is even looked up.
    async with connect(server.ws_url("999", token="nope")) as ws:
        assert await close_code(ws) == 4401
    # A good token, and no token at all (anonymous, read-only), both get in.
    for token in (creator["token"], None):
        async with connect(server.ws_url(live["id"], token=token)) as ws:
            await snapshot(ws)
            await send(ws, {"type": "ping"})
            pong = await next_frame(ws)
            assert (pong["type"], pong["seq"], pong["data"]) == ("pong", None, {})
            assert pong["live_id"] == live["id"]


async def test_seq_is_plus_one_per_live_for_every_broadcast_event(
    server: LiveServer, rest: Rest
) -> None:
    creator = await rest.register("cara", "creator")
    mug = await rest.product(creator, title="Mug", price_cents=1000)
    cap = await rest.product(creator, title="Cap", price_cents=2000)
    live = await rest.live(creator)
    other = await rest.live(creator)  # a second live has its own seq
    async with connect(server.ws_url(live["id"])) as ws, connect(server.ws_url(other["id"])) as w2:
        await snapshot(ws)
        await snapshot(w2)
        await rest.start(creator, live["id"])
        await rest.start(creator, other["id"])
        await rest.pinned(creator, live["id"], mug["id"])
        assert (await rest.unpin(creator, live["id"])).status_code == 204
        await rest.pinned(
            creator, live["id"], cap["id"], price_cents=1500, quantity=5, duration_s=600
        )
        await rest.pinned(creator, live["id"], mug["id"])  # replaces the deal
        await rest.end(creator, live["id"])
        got = await until(ws, "live_ended")
        assert [f["type"] for f in got] == [
            "live_started",
            "pinned",
            "unpinned",
            "pinned",
            "deal_ended",
            "pinned",
            "unpinned",
            "live_ended",
        ]
        assert_consecutive(got, 0)
        assert all(f["live_id"] == live["id"] for f in got)
        assert got[2]["data"] == {"product_id": mug["id"]}
        assert got[4]["data"] == {"product_id": cap["id"], "reason": "unpinned"}
        assert got[6]["data"] == {"product_id": mug["id"]}
        assert got[0]["data"] == {} and got[-1]["data"] == {}
        assert await rest.events(live["id"]) == got
        started = await next_frame(w2)
        assert (started["type"], started["seq"], started["live_id"]) == (
            "live_started",
            1,
            other["id"],
        )


async def test_frame_over_4_kib_closes_1009_over_uvicorn(server: LiveServer, rest: Rest) -> None:
    creator = await rest.register("cara", "creator")
    live = await rest.live(creator)
    big = json.dumps({"type": "ping", "pad": "x" * 4100})
    for payload in (big, big.encode()):
        async with connect(server.ws_url(live["id"])) as ws:
            await snapshot(ws)
            # Exactly 4 KiB is allowed.
            exact = json.dumps({"type": "ping", "pad": ""})
            exact = exact[:-2] + " " * (4096 - len(exact)) + '"}'
            assert len(exact.encode()) == 4096
            await ws.send(exact)
            assert (await next_frame(ws))["type"] == "pong"
            await ws.send(payload)
            assert await close_code(ws) == 1009


def not_viewers(ws: Any) -> dict[str, Any]:
    """The next frame on a TestClient socket that is not a viewer count (presence ticks
    send those whenever they like)."""
    while (frame := ws.receive_json())["type"] == "viewers":
        pass
    got: dict[str, Any] = frame
    return got


def test_close_codes_through_asgi(client: TestClient, api: Api) -> None:
    """Under any ASGI server (here the TestClient) the app checks sizes itself."""
    creator = api.register("cara", "creator")
    live = api.live(creator)
    for send_big in (
        lambda ws: ws.send_text(json.dumps({"type": "ping", "pad": "x" * 4100})),
        lambda ws: ws.send_bytes(b"x" * 5000),
    ):
        with client.websocket_connect(f"/ws/lives/{live['id']}") as ws:
            assert not_viewers(ws)["type"] == "snapshot"
            ws.send_text(json.dumps({"type": "ping"}))
            assert not_viewers(ws)["type"] == "pong"
            send_big(ws)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1009
    for path, code in [
        (f"/ws/lives/{live['id']}?token=nope", 4401),
        ("/ws/lives/999", 4404),
        ("/ws/lives/abc", 4404),
    ]:
        with client.websocket_connect(path) as ws, pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == code, path


BAD_FRAMES: list[tuple[str, str | bytes, str]] = [
    ("invalid json", "{not json", "invalid_json"),
    ("json array", "[1, 2, 3]", "invalid_frame"),
    ("json string", '"ping"', "invalid_frame"),
    ("missing type", '{"text": "hi"}', "invalid_frame"),
    ("type not a string", '{"type": 7}', "invalid_frame"),
    ("unknown type", '{"type": "dance"}', "unknown_type"),
    ("pin with string product_id", '{"type": "pin", "product_id": "abc"}', "validation_error"),
    ("pin without product_id", '{"type": "pin"}', "validation_error"),
    ("pin with deal not an object", '{"type": "pin", "product_id": 1, "deal": 5}', ""),
    ("binary frame", b'{"type": "ping"}', "invalid_frame"),
]


async def show(rest: Rest) -> tuple[Who, dict[str, Any], dict[str, Any]]:
    """A creator ``cara`` with a product and a started live."""
    creator = await rest.register("cara", "creator")
    return creator, await rest.product(creator), await rest.live(creator, start=True)


async def test_bad_client_frames_get_error_frames_and_socket_stays_open(
    server: LiveServer, rest: Rest
) -> None:
    creator, product, live = await show(rest)
    async with connect(server.ws_url(live["id"], token=creator["token"])) as ws:
        await snapshot(ws)
        for name, payload, code in BAD_FRAMES:
            await ws.send(payload)
            error = await next_frame(ws)
            assert error["type"] == "error", (name, error)
            assert error["seq"] is None
            assert isinstance(error["data"]["code"], str) and error["data"]["code"], name
            assert isinstance(error["data"]["message"], str) and error["data"]["message"], name
            if code:
                assert error["data"]["code"] == code, (name, error)
        # Still open and still fully working: a valid pin frame goes through.
        await send(ws, {"type": "pin", "product_id": product["id"]})
        pinned = await next_frame(ws)
        assert (pinned["type"], pinned["seq"]) == ("pinned", 2)
        await send(ws, {"type": "ping"})
        assert (await next_frame(ws))["type"] == "pong"
    assert [e["type"] for e in await rest.events(live["id"])] == ["live_started", "pinned"]


async def test_flooding_client_is_rate_limited_while_others_get_pins_promptly(
    server: LiveServer, rest: Rest
) -> None:
    creator, product, live = await show(rest)
    async with (
        connect(server.ws_url(live["id"])) as flooder,
        connect(server.ws_url(live["id"])) as viewer,
    ):
        await snapshot(flooder)
        await snapshot(viewer)
        for _ in range(300):
            await send(flooder, {"type": "ping"})
        loop = asyncio.get_running_loop()
        began = loop.time()
        resp = await rest.pin(creator, live["id"], product["id"])
        assert resp.status_code == 200, resp.text
        pinned = await next_frame(viewer, within=2)
        assert pinned["type"] == "pinned"
        assert loop.time() - began < 1.5  # a few ms when idle; slack for a loaded machine
        # The flooder got at most a burst of pongs, then rate_limited errors, and
        # the pin too: its socket is still open.
        got = await until(flooder, "pinned")
        pongs = [f for f in got if f["type"] == "pong"]
        errors = [f for f in got if f["type"] == "error"]
        assert errors, [f["type"] for f in got]
        assert all(e["data"]["code"] == "rate_limited" for e in errors)
        assert all(e["data"]["retry_after"] > 0 for e in errors)
        assert all(e["seq"] is None for e in errors)
        assert len(pongs) < 300
        assert len(errors) < 300 - len(pongs)  # not one error per dropped frame


async def test_viewers_frames_carry_count_at_most_once_per_interval(
    server: LiveServer, rest: Rest
) -> None:
    interval_ms = server.state.settings.presence_interval_s * 1000
    creator = await rest.register("cara", "creator")
    live = await rest.live(creator)
    url = server.ws_url(live["id"])
    seen: list[dict[str, Any]] = []
    async with connect(url) as watcher:
        await snapshot(watcher)
        await viewers_count(watcher, 1, seen=seen)
        async with connect(url) as second:
            await snapshot(second)
            await viewers_count(watcher, 2, seen=seen)
            await viewers_count(second, 2)
        await viewers_count(watcher, 1, seen=seen)

        # Churn: sockets come and go far faster than the presence interval.
        for _ in range(25):
            async with connect(url) as churn:
                await snapshot(churn)
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(3):
                ws = await stack.enter_async_context(connect(url))
                await snapshot(ws)
            await viewers_count(watcher, 4, seen=seen)
        await viewers_count(watcher, 1, seen=seen)
    # ``ts`` is when the server made each frame: never two within one interval.
    gaps = [b["ts"] - a["ts"] for a, b in itertools.pairwise(seen)]
    assert all(gap >= interval_ms * 0.8 for gap in gaps), gaps
    # And only when the count changed.
    counts = [f["data"]["count"] for f in seen]
    assert all(a != b for a, b in itertools.pairwise(counts)), counts


async def test_hundred_viewers_get_identical_pins_with_consecutive_seq(
    server: LiveServer, rest: Rest
) -> None:
    creator = await rest.register("cara", "creator")
    mug = await rest.product(creator, title="Mug")
    cap = await rest.product(creator, title="Cap")
    live = await rest.live(creator, start=True)
    async with contextlib.AsyncExitStack() as stack:
        sockets = await asyncio.gather(
            *(stack.enter_async_context(connect(server.ws_url(live["id"]))) for _ in range(100))
        )
        snaps = await asyncio.gather(*(snapshot(ws) for ws in sockets))
        assert {s["data"]["seq"] for s in snaps} == {1}
        await rest.pinned(creator, live["id"], mug["id"])
        await rest.pinned(creator, live["id"], cap["id"])

        async def two(ws: ClientConnection) -> list[str]:
            return [await recv_raw(ws), await recv_raw(ws)]

        received = await asyncio.gather(*(two(ws) for ws in sockets))
        assert all(r == received[0] for r in received)
        got = [check_envelope(json.loads(raw)) for raw in received[0]]
        assert [f["type"] for f in got] == ["pinned", "pinned"]
        assert_consecutive(got, 1)
        assert got[1]["data"]["product"]["id"] == cap["id"]
        stats = await rest.http.get(f"/api/lives/{live['id']}/stats", headers=auth(creator))
        assert stats.json()["viewers"] == 100
