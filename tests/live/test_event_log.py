"""The live's event log (``live.log.EventBatch``): one event or several at once, seq
always +1 with no gap, and the log pruned past its size (contract: ``seq``, resume)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from live import log, pins
from live.models import Live
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


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs."""
    seen: list[str] = []

    def hook(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", hook)


async def test_appending_under_the_live_lock_sends_the_other_writes_along(
    server: LiveServer,
) -> None:
    async with http_client(server.url, timeout=30) as http:
        rest = Rest(http)
        owner = await rest.register("owner", "creator")
        lid, other = (await rest.live(owner, start=True))["id"], (await rest.live(owner))["id"]
        start = len(await rest.events(lid))
        renamed = update(Live).where(col(Live.id) == other).values(title="renamed")
        engine = server.state.db.write_engine
        async with server.state.hub.transaction() as batch:
            live = await pins.lock_live(batch.session, lid)
            with statements(engine) as sent:
                await batch.append_locked(
                    live, [("stock", {"n": 1}), ("stock", {"n": 2})], [renamed]
                )
            await batch.append_locked(live, [("stock", {"n": 3})], [])
            await batch.append(lid, "stock", {"n": 4})
        events = (await rest.events(lid))[start:]
        title = (await rest.get_live(other))["title"]
    assert [e["data"]["n"] for e in events] == [1, 2, 3, 4]
    assert [e["seq"] for e in events] == list(range(start + 1, start + 5))
    assert [json.loads(f.text) for _live, f in batch.frames] == events
    assert title == "renamed"  # the write sent along committed with the events
    # PostgreSQL: the seq update, the log rows and the write along, in one statement.
    assert len(sent) == (1 if server.state.db.dialect == "postgresql" else 3)


async def test_appending_under_the_live_lock_prunes_the_log_too(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Passing a multiple of ``_PRUNE_EVERY`` prunes what was logged before that append
    (on PostgreSQL the prune is part of the append's one statement)."""
    monkeypatch.setattr(log, "KEEP_EVENTS", 5)
    monkeypatch.setattr(log, "_PRUNE_EVERY", 4)
    async with http_client(server.url, timeout=30) as http:
        rest = Rest(http)
        owner = await rest.register("owner", "creator")
        lid = (await rest.live(owner, start=True))["id"]
        async with server.state.hub.transaction() as batch:
            await batch.append_many(lid, [("stock", {"n": i}) for i in range(9)])
        last = (await rest.events(lid))[-1]["seq"]
        to_cross = 4 - last % 4  # the next append passes a multiple of 4
        async with server.state.hub.transaction() as batch:
            live = await pins.lock_live(batch.session, lid)
            await batch.append_locked(live, [("stock", {"n": i}) for i in range(to_cross)], [])
        events = await rest.events(lid)
    last += to_cross
    assert [e["seq"] for e in events] == list(range(last - 4, last + 1))  # the newest 5
