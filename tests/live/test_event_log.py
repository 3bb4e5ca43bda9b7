"""The live's event log (``live.log.EventBatch``): one event or several at once, seq
always +1 with no gap, and the log pruned past its size (contract: ``seq``, resume)."""

from __future__ import annotations

import json

import pytest

from live import log
from tests.http_helpers import http_client
from tests.live_server import LiveServer
from tests.ws_helpers import Rest


async def test_events_appended_together_take_consecutive_seqs(server: LiveServer) -> None:
    async with http_client(server.url, timeout=30) as http:
        rest = Rest(http)
        owner = await rest.register("owner", "creator")
        live = await rest.live(owner, start=True)
        lid = live["id"]
        start = len(await rest.events(lid))
        async with server.state.hub.transaction() as batch:
            await batch.append(lid, "stock", {"n": 1})
            await batch.append_many(lid, [("stock", {"n": 2}), ("stock", {"n": 3})])
            await batch.append_many(lid, [])
            await batch.append(lid, "stock", {"n": 4})
        events = (await rest.events(lid))[start:]
    assert [e["data"]["n"] for e in events] == [1, 2, 3, 4]
    assert [e["seq"] for e in events] == list(range(start + 1, start + 5))
    published = [json.loads(f.text) for _live, f in batch.frames]
    assert published == events  # what went out is what the log holds


async def test_appending_many_prunes_the_log_past_its_size(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log, "KEEP_EVENTS", 5)
    monkeypatch.setattr(log, "_PRUNE_EVERY", 4)
    async with http_client(server.url, timeout=30) as http:
        rest = Rest(http)
        owner = await rest.register("owner", "creator")
        live = await rest.live(owner, start=True)
        lid = live["id"]
        async with server.state.hub.transaction() as batch:
            await batch.append_many(lid, [("stock", {"n": i}) for i in range(10)])
        events = await rest.events(lid)
    last = events[-1]["seq"]
    assert events[-1]["data"]["n"] == 9
    assert events[0]["seq"] > last - 5 - 4  # older ones were pruned (at most one round late)
    assert [e["seq"] for e in events] == list(range(events[0]["seq"], last + 1))
