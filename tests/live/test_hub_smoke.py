"""The smallest end-to-end path of the hub: a pin made over REST reaches a viewer's socket."""

from __future__ import annotations

from websockets.asyncio.client import connect

from tests.live_server import LiveServer
from tests.ws_helpers import Rest, frames, snapshot


async def test_pin_reaches_viewer_over_uvicorn(server: LiveServer, rest: Rest) -> None:
    creator = await rest.register("cara", "creator")
    product = await rest.product(creator, title="Mug", price_cents=900, stock=3)
    live = await rest.live(creator)
    async with connect(server.ws_url(live["id"])) as ws:
        first = await snapshot(ws)
        assert first["data"]["seq"] == 0 and first["data"]["pinned"] is None, first
        await rest.start(creator, live["id"])
        pinned = await rest.pinned(creator, live["id"], product["id"])
        started, pin = await frames(ws, 2)
    assert (started["type"], started["seq"]) == ("live_started", 1), started
    assert (pin["type"], pin["seq"]) == ("pinned", 2), pin
    shown = pin["data"]["product"]
    assert (shown["id"], shown["title"], shown["price_cents"], shown["stock"]) == (
        product["id"], "Mug", 900, 3
    ), pin  # fmt: skip
    assert pin["data"]["deal"] is None and pin["data"]["by"]["username"] == "cara", pin
    assert pinned["product"]["id"] == product["id"], pinned
