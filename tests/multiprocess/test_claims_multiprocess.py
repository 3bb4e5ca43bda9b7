"""Comment-to-buy over two `livecart serve` processes sharing a database and Redis
(issue #14 item 6; contract: Comment-to-buy and waitlists). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from app import claims
from app.accounts import User
from app.settings import Settings
from checkout.models import Order, WaitlistEntry, WaitStatus
from live.claims import Claim
from tests.auction_helpers import Tap, bidders, database, tapped, two_instances, two_processes
from tests.store_helpers import open_store
from tests.ws_helpers import auth, rest_for, send

pytestmark = pytest.mark.slow

CLAIMANTS, UNITS = 60, 10


async def test_a_storm_over_two_processes_sells_each_unit_once(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    """Claims through both processes at once for a deal of 10 units: 10 orders, the
    other 50 claimants waitlisted with distinct places; every socket on either process
    sees every chat line, and the stock change."""
    async with (
        two_processes(settings, redis_url, tmp_path) as (a, b),
        database(settings) as db,
        rest_for(a.url) as rest_a,
        rest_for(b.url) as rest_b,
        contextlib.AsyncExitStack() as stack,
    ):
        owner = await rest_a.register("cara", "creator")
        product = await rest_a.product(owner, title="Lamp", price_cents=5_000, stock=UNITS)
        live = await rest_a.live(owner, start=True)
        deal = {"price_cents": 3_000, "quantity": UNITS, "per_buyer_limit": 1, "duration_s": 600}
        pinned = await rest_b.http.post(
            f"/api/lives/{live['id']}/pin", headers=auth(owner),
            json={"product_id": product["id"], "deal": deal, "claim_keyword": "SOLD"},
        )  # fmt: skip
        assert pinned.status_code == 200, pinned.text
        people = await bidders([rest_a, rest_b], CLAIMANTS, made_in=(db, settings.secret_key))
        taps: list[Tap] = [
            await stack.enter_async_context(tapped((a, b)[i % 2], live["id"], who))
            for i, who in enumerate(people)
        ]
        await asyncio.gather(*(send(t.ws, {"type": "chat", "text": "sold"}) for t in taps))
        answers = await asyncio.gather(*(_answer(t) for t in taps))
        for tap in taps[:2]:  # one on each process: the whole room's chat reached it
            await _all_chat(tap)
        async with db.read() as session:
            orders = (
                await session.exec(select(Order).where(Order.product_id == product["id"]))
            ).all()
            waiting = (await session.exec(
                select(WaitlistEntry).where(WaitlistEntry.status == WaitStatus.WAITING)
                .order_by(col(WaitlistEntry.id))
            )).all()  # fmt: skip
    kinds = [x["type"] for x in answers]
    assert kinds.count("order") == UNITS and kinds.count("waitlisted") == CLAIMANTS - UNITS, [
        x["data"] for x in answers if x["type"] == "error"
    ]
    assert len(orders) == UNITS and {o.source for o in orders} == {"comment"}
    assert len({o.buyer_id for o in orders}) == UNITS
    places = {
        x["data"]["position"]: who["user"]["id"]
        for who, x in zip(people, answers, strict=True)
        if x["type"] == "waitlisted"
    }
    assert sorted(places) == list(range(1, CLAIMANTS - UNITS + 1))
    assert [w.user_id for w in waiting] == [places[p] for p in sorted(places)]


async def _answer(tap: Tap) -> dict[str, Any]:
    kinds = ("order", "waitlisted", "error")
    return await tap.wait_for(lambda f: f["type"] in kinds, within=60)


async def _all_chat(tap: Tap) -> None:
    await tap.wait_for(lambda _f: len(tap.of_type("chat")) == CLAIMANTS, within=30)


async def test_one_message_seen_by_two_instances_makes_one_order(
    settings: Settings, redis_url: str
) -> None:
    """The same claiming message handled by two app instances at once (say, a frame
    delivered twice across a reconnect to another process): one order."""
    async with two_instances(settings, redis_url) as (a, b), rest_for(a.url) as rest:
        store = await open_store(rest, a)
        assert (await store.pin()).status_code == 200
        ann = await store.buyer("ann")
        user = User(id=ann["user"]["id"], username="ann", password_hash="x", role="viewer")
        made = Claim(store.live["id"], store.product["id"], message_id=777, quantity=1)
        answers = await asyncio.gather(
            *(claims.claim(app.state, user, made) for app in (a, b, a, b))
        )
        assert answers == [None] * 4
        orders = await store.orders()
        assert [(o.buyer_id, o.source) for o in orders] == [(ann["user"]["id"], "comment")]
