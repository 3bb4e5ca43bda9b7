"""Giveaways over two `livecart serve` processes sharing a database and Redis (issue #14
items 3 and 6; contract: Giveaways): entries through both at once, a REST entry checked
against a socket on the other process, and one draw however many clocks wake for it.
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from app.settings import Settings
from live.models import LiveEvent
from tests.auction_helpers import Tap, bidders, database, tapped, two_processes
from tests.giveaway_helpers import end_now, prize_orders, recomputed_winner, settled, start
from tests.ws_helpers import auth, rest_for, send

pytestmark = pytest.mark.slow

ENTRANTS = 40


async def test_entries_through_both_processes_and_one_draw(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    async with (
        two_processes(settings, redis_url, tmp_path) as (a, b),
        database(settings) as db,
        rest_for(a.url) as rest_a,
        rest_for(b.url) as rest_b,
        contextlib.AsyncExitStack() as stack,
    ):
        owner = await rest_a.register("cara", "creator")
        product = await rest_a.product(owner, title="Lamp", price_cents=5_000, stock=3)
        live = await rest_a.live(owner, start=True)
        started = await start(rest_b, owner, live["id"], product["id"], keyword="WIN")
        assert started.status_code == 201, started.text
        gid = started.json()["giveaway"]["id"]
        people = await bidders([rest_a, rest_b], ENTRANTS, made_in=(db, settings.secret_key))
        taps: list[Tap] = [
            await stack.enter_async_context(tapped((a, b)[i % 2], live["id"], who))
            for i, who in enumerate(people)
        ]
        # Half enter with the frame, half by chatting the keyword, all at once.
        await asyncio.gather(*(
            send(t.ws, {"type": "enter", "giveaway_id": gid} if i % 4 < 2
                 else {"type": "chat", "text": "win"})
            for i, t in enumerate(taps)
        ))  # fmt: skip
        answers = await asyncio.gather(*(
            t.wait_for(lambda f: f["type"] in ("giveaway_entered", "error"), within=60)
            for t in taps
        ))  # fmt: skip
        assert [x["type"] for x in answers] == ["giveaway_entered"] * ENTRANTS, answers
        assert sorted(x["data"]["entries"] for x in answers)[-1] == ENTRANTS
        # Over REST, through process A, for an account whose socket is on process B:
        # seen through Redis once B has reported it (the room's viewer count shows it).
        late = (await bidders([rest_b], 1, prefix="late", made_in=(db, settings.secret_key)))[0]
        watcher = await stack.enter_async_context(tapped(b, live["id"], late))
        await watcher.wait_for(
            lambda f: f["type"] == "viewers" and f["data"]["count"] >= ENTRANTS + 1, within=30
        )
        entered = await rest_a.http.post(f"/api/giveaways/{gid}/entries", headers=auth(late))
        assert entered.status_code == 201, entered.text
        assert entered.json()["giveaway"]["entries"] == ENTRANTS + 1
        await end_now(db, gid)
        done = await settled(db, gid, within=30)
        for tap in (taps[0], taps[1]):  # one on each process: the draw reached both once
            ended = await tap.wait_type("giveaway_ended")
            assert len(tap.of_type("giveaway_ended")) == 1
        body = (await rest_b.http.get(f"/api/giveaways/{gid}")).json()
        assert len(body["entrants"]) == ENTRANTS + 1
        winner = recomputed_winner(body)
        assert winner is not None and winner["id"] == done.winner_id
        assert ended["data"]["winner"] == winner
        assert ended["data"]["seed"] == body["giveaway"]["seed"]
        orders = await prize_orders(db, product["id"])
        assert [(o.buyer_id, o.total_cents) for o in orders] == [(winner["id"], 0)]
        async with db.read() as session:
            query = select(func.count()).where(
                LiveEvent.live_id == live["id"], LiveEvent.type == "giveaway_ended"
            )
            assert (await session.exec(query)).one() == 1
