"""A viewer joining while a presence tick announces a new count still gets that count
(live hub, contract: ``viewers``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from live import log
from live.frames import Frame
from live.served import Viewer
from tests.http_helpers import http_client
from tests.live_server import LiveServer
from tests.ws_helpers import Rest


class Recorder:
    """A sink that keeps what it is offered."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def offer(self, frame: Frame, *, backlog: bool = False) -> bool:
        self.frames.append(json.loads(frame.text))
        return True

    def offer_all(self, frames: Sequence[Frame], wire: bytes) -> bool:
        return all(self.offer(frame) for frame in frames)

    def close(self, code: int, reason: str = "") -> None:
        return None


async def test_a_count_announced_while_a_viewer_joins_reaches_it(server: LiveServer) -> None:
    async with http_client(server.url, timeout=30) as http:
        rest = Rest(http)
        owner = await rest.register("owner", "creator")
        live_id = (await rest.live(owner, start=True))["id"]
    hub = server.state.hub
    async with server.state.db.read() as session:
        seq = await log.last_seq(session, live_id)

    async def first_snapshot() -> tuple[dict[str, Any], int]:
        return {"viewers": 1}, seq

    first = Viewer(live_id, None, Recorder())  # type: ignore[arg-type]
    await hub.join(first, None, first_snapshot)
    await hub.tick_presence()
    # An event the cached snapshot cannot be advanced by: the next join builds one.
    async with hub.transaction() as batch:
        seq = (await batch.append(live_id, "live_ended", {})).seq or 0

    async def second_snapshot() -> tuple[dict[str, Any], int]:
        # While the second viewer joins: the first leaves and a tick announces it.
        hub.leave(first)
        await hub.tick_presence()
        return {"viewers": 2}, seq

    second = Viewer(live_id, None, Recorder())  # type: ignore[arg-type]
    await hub.join(second, None, second_snapshot)
    counts = [f["data"]["count"] for f in second.sink.frames if f["type"] == "viewers"]  # type: ignore[attr-defined]
    assert counts == [0]  # the count announced during its join (it is added only after)
    hub.leave(second)
