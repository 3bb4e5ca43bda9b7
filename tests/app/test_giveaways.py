"""Giveaways (contract: Giveaways): starting one holds a unit; entries by frame, REST and
chatting the keyword, with every refusal; the draw at ``ends_at`` that anyone recomputes
from the published seed and entrants; the winner's zero-price order; a restart before
the draw. In-process server, real sockets, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select
from websockets.asyncio.client import connect

from app.settings import Settings
from live.models import Giveaway, GiveawayEntry, LiveEvent
from tests.auction_helpers import Tap, bidders, database, tapped
from tests.giveaway_helpers import end_now, prize_orders, recomputed_winner, settled, start
from tests.http_helpers import assert_error
from tests.live_server import serve
from tests.store_helpers import Store, open_store
from tests.ws_helpers import Rest, Who, auth, rest_for, send, snapshot

RUSH = 120


@pytest.fixture
async def store(rest: Rest, server: Any) -> Store:
    return await open_store(rest, server)


async def open_giveaway(store: Store, keyword: str | None = "WIN") -> dict[str, Any]:
    resp = await start(store.rest, store.owner, store.live["id"], store.product["id"],
                       keyword=keyword)  # fmt: skip
    assert resp.status_code == 201, resp.text
    giveaway: dict[str, Any] = resp.json()["giveaway"]
    return giveaway


async def read(store: Store, giveaway_id: int, who: Who | None = None) -> dict[str, Any]:
    resp = await store.rest.http.get(f"/api/giveaways/{giveaway_id}", headers=auth(who))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def enter_by_frame(tap: Tap, giveaway_id: int) -> dict[str, Any]:
    """Send ``enter`` and return the socket's private answer to it."""
    since = len(tap.frames)
    await send(tap.ws, {"type": "enter", "giveaway_id": giveaway_id})
    return await _answer(tap, since)


async def _answer(tap: Tap, since: int) -> dict[str, Any]:
    await tap.settled()
    frames = [f for f in tap.frames[since:] if f["type"] in ("giveaway_entered", "error")]
    assert len(frames) == 1, frames
    return frames[0]


async def enter_by_rest(store: Store, who: Who | None, giveaway_id: int) -> Any:
    return await store.rest.http.post(f"/api/giveaways/{giveaway_id}/entries", headers=auth(who))


async def snapshot_data(store: Store) -> dict[str, Any]:
    async with connect(store.server.ws_url(store.live["id"])) as ws:
        frame = await snapshot(ws)
    data: dict[str, Any] = frame["data"]
    return data


async def test_starting_holds_a_unit_and_shows_the_card(store: Store) -> None:
    async with tapped(store.server, store.live["id"]) as room:
        g = await open_giveaway(store)
        assert g["status"] == "open" and g["entries"] == 0 and g["keyword"] == "WIN"
        assert g["seed"] is None and len(g["seed_hash"]) == 64 and g["winner"] is None
        assert g["product"]["title"] == "Lamp" and g["live_id"] == store.live["id"]
        started = await room.wait_type("giveaway_started")
        assert started["data"]["giveaway"]["id"] == g["id"] and started["seq"] is not None
        assert (await room.wait_type("stock"))["data"]["stock"] == 5  # one held of 6
    snap = await snapshot_data(store)  # a late joiner sees the card
    assert snap["giveaway"]["id"] == g["id"] and snap["giveaway"]["seed"] is None
    listed = await store.rest.http.get(f"/api/lives/{store.live['id']}/giveaways")
    assert [x["id"] for x in listed.json()["giveaways"]] == [g["id"]]
    body = await read(store, g["id"])
    assert "entrants" not in body or body["entrants"] is None  # not before the draw


async def test_starting_refusals_write_nothing(store: Store) -> None:
    live_id, product_id = store.live["id"], store.product["id"]
    viewer = await store.rest.register("vic")
    assert_error(await start(store.rest, viewer, live_id, product_id), 403)
    assert_error(await start(store.rest, None, live_id, product_id), 401)
    for bad in ({"duration_s": 9}, {"duration_s": 3601}, {"keyword": "win 2"},
                {"keyword": "x" * 21}, {"keyword": ""}, {"product_id": 999_999}):  # fmt: skip
        body = {"product_id": product_id, "duration_s": 60, **bad}
        resp = await store.rest.http.post(f"/api/lives/{live_id}/giveaways", json=body,
                                          headers=auth(store.owner))  # fmt: skip
        assert resp.status_code in (404, 422), (bad, resp.text)
    assert (await store.pin("WIN")).status_code == 200
    assert_error(await start(store.rest, store.owner, live_id, product_id, keyword="win"), 409,
                 "keyword_in_use")  # fmt: skip
    empty = await store.rest.product(store.owner, title="Gone", price_cents=100, stock=0)
    assert_error(await start(store.rest, store.owner, live_id, empty["id"]), 409,
                 "insufficient_stock")  # fmt: skip
    g = await open_giveaway(store, keyword="FREE")
    assert_error(await start(store.rest, store.owner, live_id, product_id), 409,
                 "giveaway_running")  # fmt: skip
    assert_error(await store.pin("free"), 409, "keyword_in_use")
    async with store.server.state.db.read() as session:
        count = (await session.exec(select(func.count()).select_from(Giveaway))).one()
    assert count == 1 and g["entries"] == 0
    ended = await store.rest.live(store.owner, start=False)
    assert_error(await start(store.rest, store.owner, ended["id"], product_id), 409,
                 "invalid_state")  # fmt: skip


async def test_entries_and_their_refusals(store: Store) -> None:
    g = await open_giveaway(store)
    gid = g["id"]
    ann, ben, bare = (
        await store.buyer("ann"),
        await store.buyer("ben"),
        await store.rest.register("bare"),
    )
    mod = await store.buyer("moe")
    await store.rest.moderator(store.owner, store.live["id"], "moe")
    live_id = store.live["id"]
    async with (
        tapped(store.server, live_id, ann) as a,
        tapped(store.server, live_id, bare) as b,
        tapped(store.server, live_id, mod) as m,
        tapped(store.server, live_id, store.owner) as o,
        tapped(store.server, live_id) as anon,
    ):
        assert (await enter_by_frame(a, gid))["data"] == {"giveaway_id": gid, "entries": 1}
        again = await enter_by_frame(a, gid)
        assert again["data"]["code"] == "already_entered"
        assert (await enter_by_frame(b, gid))["data"]["code"] == "checkout_profile_required"
        assert (await enter_by_frame(m, gid))["data"]["code"] == "staff_cannot_enter"
        assert (await enter_by_frame(o, gid))["data"]["code"] == "staff_cannot_enter"
        assert (await enter_by_frame(anon, gid))["data"]["code"] == "authentication_required"
        assert (await enter_by_frame(a, 999_999))["data"]["code"] == "not_found"
        bad = await enter_by_frame(a, "x")  # type: ignore[arg-type]
        assert bad["data"]["code"] == "validation_error"
        # REST: only for someone watching the live.
        assert_error(await enter_by_rest(store, ben, gid), 403, "not_watching")
        assert_error(await enter_by_rest(store, None, gid), 401)
        assert_error(await enter_by_rest(store, ann, gid), 409, "already_entered")
        async with tapped(store.server, live_id, ben):
            resp = await enter_by_rest(store, ben, gid)
            assert resp.status_code == 201, resp.text
            assert resp.json()["giveaway"]["entries"] == 2
            assert resp.json()["giveaway"]["entered"] is True
        seen = await read(store, gid, ann)
        assert seen["giveaway"]["entered"] is True and seen["giveaway"]["entries"] == 2
        assert (await read(store, gid, bare))["giveaway"]["entered"] is False
        assert (await read(store, gid))["giveaway"]["entered"] is None
        assert not [f for f in anon.frames if f["type"] == "giveaway_entered"]  # private


async def test_chatting_the_keyword_enters_and_shows_in_chat(store: Store) -> None:
    g = await open_giveaway(store, keyword="WIN")
    cal = await store.buyer("cal")
    async with (
        tapped(store.server, store.live["id"], cal) as c,
        tapped(store.server, store.live["id"]) as room,
    ):
        since = len(c.frames)
        await send(c.ws, {"type": "chat", "text": "Win! please"})
        assert (await _answer(c, since))["data"] == {"giveaway_id": g["id"], "entries": 1}
        line = await room.wait_type("chat")
        assert line["data"]["text"] == "Win! please"
        since = len(c.frames)
        await send(c.ws, {"type": "chat", "text": "winner winner"})  # not the keyword
        await c.settled()
        assert not [f for f in c.frames[since:] if f["type"] in ("giveaway_entered", "error")]
        since = len(c.frames)
        await send(c.ws, {"type": "chat", "text": "WIN"})
        assert (await _answer(c, since))["data"]["code"] == "already_entered"
    async with tapped(store.server, store.live["id"], store.owner) as host:
        since = len(host.frames)  # the host announcing it is only chat: no error
        await send(host.ws, {"type": "chat", "text": "Win this lamp: type WIN"})
        await host.wait_type("chat")
        await host.settled()
        assert not [f for f in host.frames[since:] if f["type"] == "error"]


async def test_the_draw_is_public_and_the_winner_gets_a_free_order(store: Store) -> None:
    g = await open_giveaway(store)
    people = [await store.buyer(name) for name in ("ann", "ben", "cal", "dee", "eve")]
    state = store.server.state
    async with tapped(store.server, store.live["id"]) as room:
        for who in people:
            async with tapped(store.server, store.live["id"], who) as t:
                assert (await enter_by_frame(t, g["id"]))["type"] == "giveaway_entered"
        await end_now(state.db, g["id"])
        state.giveaway_clock.poke()
        ended = await room.wait_type("giveaway_ended")
        done = await settled(state.db, g["id"])
    body = await read(store, g["id"])
    view = body["giveaway"]
    assert view["status"] == "drawn" and view["seed"] and view["entries"] == 5
    assert [e["username"] for e in body["entrants"]] == ["ann", "ben", "cal", "dee", "eve"]
    winner = recomputed_winner(body)
    assert winner is not None and view["winner"] == winner
    assert ended["data"] == {"giveaway_id": g["id"], "winner": winner, "seed": view["seed"],
                             "seed_hash": g["seed_hash"], "entries": 5}  # fmt: skip
    orders = await prize_orders(state.db, store.product["id"])
    assert len(orders) == 1 and orders[0].buyer_id == winner["id"]
    assert orders[0].total_cents == 0 and orders[0].id == done.order_id == view["order_id"]
    late = people[0]
    async with tapped(store.server, store.live["id"], late) as t:
        assert (await enter_by_frame(t, g["id"]))["data"]["code"] == "giveaway_closed"
    assert (await snapshot_data(store))["giveaway"] is None
    # Fulfillment ships it like any other order: the winner sees it in their orders.
    mine = await store.rest.http.get("/api/orders", headers=auth(
        next(p for p in people if p["user"]["id"] == winner["id"])))  # fmt: skip
    assert [o["source"] for o in mine.json()["orders"]] == ["giveaway"]


async def test_no_entries_puts_the_unit_back(store: Store) -> None:
    g = await open_giveaway(store, keyword=None)
    state = store.server.state
    async with tapped(store.server, store.live["id"]) as room:
        await end_now(state.db, g["id"])
        state.giveaway_clock.poke()
        ended = await room.wait_type("giveaway_ended")
        assert ended["data"]["winner"] is None and ended["data"]["entries"] == 0
        back = await room.wait_for(lambda f: f["type"] == "stock" and f["data"]["stock"] == 6)
        assert back["seq"] > ended["seq"] - 1
    done = await settled(state.db, g["id"])
    assert done.unclaimed == "no_entries" and done.order_id is None
    assert (await read(store, g["id"]))["giveaway"]["unclaimed"] == "no_entries"
    assert (await read(store, g["id"]))["entrants"] == []


async def test_a_restart_before_the_draw_still_draws_once(settings: Settings) -> None:
    """The process that started the giveaway stops before ``ends_at``; the next one to
    start draws it at its first pass — once, with the entries made before the stop."""
    async with serve(settings) as first, rest_for(first.url) as rest:
        store = await open_store(rest, first)
        g = await open_giveaway(store)
        ann = await store.buyer("ann")
        async with tapped(first, store.live["id"], ann) as t:
            assert (await enter_by_frame(t, g["id"]))["type"] == "giveaway_entered"
    async with database(settings) as db:  # while no server runs: its time is up
        await end_now(db, g["id"])
    async with serve(settings) as second, serve(settings) as third:
        done = await settled(second.state.db, g["id"])
        assert done.winner_id == ann["user"]["id"] and done.entries == 1
        assert len(await prize_orders(third.state.db, store.product["id"])) == 1
        async with second.state.db.read() as session:
            query = select(func.count()).where(
                LiveEvent.live_id == store.live["id"], LiveEvent.type == "giveaway_ended"
            )
            assert (await session.exec(query)).one() == 1
            entries = (await session.exec(select(func.count()).select_from(GiveawayEntry))).one()
            assert entries == 1


async def test_entries_racing_the_draw_are_counted_or_refused(store: Store) -> None:
    """A rush of entries at the moment of the draw: each entry is either in the entrant
    list the winner was computed from, or refused ``giveaway_closed``; none is lost."""
    g = await open_giveaway(store)
    state = store.server.state
    people = await bidders([store.rest], RUSH)
    async with contextlib.AsyncExitStack() as stack:
        taps = [
            await stack.enter_async_context(tapped(store.server, store.live["id"], who))
            for who in people
        ]
        half = RUSH // 2
        await asyncio.gather(*(send(t.ws, {"type": "enter", "giveaway_id": g["id"]})
                               for t in taps[:half]))  # fmt: skip
        await taps[0].wait_type("giveaway_entered")  # the first entries are in: draw now
        await end_now(state.db, g["id"])
        state.giveaway_clock.poke()
        await asyncio.gather(*(send(t.ws, {"type": "enter", "giveaway_id": g["id"]})
                               for t in taps[half:]))  # fmt: skip
        answers = await asyncio.gather(
            *(t.wait_for(lambda f: f["type"] in ("giveaway_entered", "error")) for t in taps)
        )
        await settled(state.db, g["id"])
    body = await read(store, g["id"])
    entered = {who["user"]["id"] for who, x in zip(people, answers, strict=True)
               if x["type"] == "giveaway_entered"}  # fmt: skip
    refused = [x["data"]["code"] for x in answers if x["type"] == "error"]
    assert set(refused) <= {"giveaway_closed"}
    assert {e["id"] for e in body["entrants"]} == entered
    assert body["giveaway"]["entries"] == len(entered) >= 1
    assert recomputed_winner(body) == body["giveaway"]["winner"]


async def test_a_winner_who_cannot_receive_it_leaves_the_unit_in_stock(store: Store) -> None:
    g = await open_giveaway(store)
    dan = await store.buyer("dan", "tok_declined")  # the card check at the prize's order fails
    state = store.server.state
    async with tapped(store.server, store.live["id"], dan) as t:
        assert (await enter_by_frame(t, g["id"]))["type"] == "giveaway_entered"
        await end_now(state.db, g["id"])
        state.giveaway_clock.poke()
        ended = await t.wait_type("giveaway_ended")
        assert ended["data"]["winner"] == {"id": dan["user"]["id"], "username": "dan"}
        await t.wait_for(lambda f: f["type"] == "stock" and f["data"]["stock"] == 6)
    done = await settled(state.db, g["id"])
    assert done.unclaimed == "payment_declined" and done.order_id is None
    assert await prize_orders(state.db, store.product["id"]) == []


async def test_the_room_sees_the_entry_count_at_most_once_a_second(store: Store) -> None:
    """Entries are counted to everyone with ``giveaway_entries`` (seq'd, never going
    down, the last one the final count, none after the draw) and in the snapshot."""
    g = await open_giveaway(store)
    people = await bidders([store.rest], 30)
    state = store.server.state
    async with tapped(store.server, store.live["id"]) as room, contextlib.AsyncExitStack() as st:
        taps = [await st.enter_async_context(tapped(store.server, store.live["id"], who))
                for who in people]  # fmt: skip
        await asyncio.gather(*(send(t.ws, {"type": "enter", "giveaway_id": g["id"]})
                               for t in taps))  # fmt: skip
        await asyncio.gather(*(t.wait_type("giveaway_entered") for t in taps))
        last = await room.wait_for(
            lambda f: f["type"] == "giveaway_entries" and f["data"]["entries"] == 30
        )
        assert (await snapshot_data(store))["giveaway"]["entries"] == 30
        await end_now(state.db, g["id"])
        state.giveaway_clock.poke()
        ended = await room.wait_type("giveaway_ended")
        await room.settled()
    counts = [f for f in room.frames if f["type"] == "giveaway_entries"]
    assert all(f["data"]["giveaway_id"] == g["id"] and f["seq"] for f in counts)
    seen = [f["data"]["entries"] for f in counts]
    assert seen == sorted(seen) and seen[-1] == 30, seen
    stamps = [f["ts"] for f in counts]
    assert all(b - a >= 900 for a, b in pairwise(stamps)), stamps
    assert counts[-1]["seq"] == last["seq"] < ended["seq"]
