"""Waitlists (contract: Comment-to-buy and waitlists): joining over REST or by a claim
that finds the product sold out, and units that come back — a cancellation, a restock —
becoming the waiting buyers' orders in order. In-process server, real sockets, SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from websockets.asyncio.client import connect

from app.settings import Settings
from tests.auction_helpers import bidders
from tests.http_helpers import assert_error
from tests.live_server import LiveServer, serve
from tests.store_helpers import DEAL, Store, chat, open_store, outcome
from tests.ws_helpers import Rest, Who, auth, rest_for, snapshot, until


@pytest.fixture
async def store(rest: Rest, server: LiveServer) -> Store:
    return await open_store(rest, server)


async def join(store: Store, who: Who | None, quantity: Any = None) -> Any:
    body = None if quantity is None else {"quantity": quantity}
    return await store.rest.http.post(
        f"/api/products/{store.product['id']}/waitlist", json=body, headers=auth(who)
    )


async def listed(store: Store) -> list[tuple[str, int]]:
    resp = await store.rest.http.get(
        f"/api/products/{store.product['id']}/waitlist", headers=auth(store.owner)
    )
    assert resp.status_code == 200, resp.text
    return [(e["user"]["username"], e["quantity"]) for e in resp.json()["waitlist"]]


async def set_stock(store: Store, stock: int) -> dict[str, Any]:
    resp = await store.rest.http.patch(
        f"/api/products/{store.product['id']}", json={"stock": stock}, headers=auth(store.owner)
    )
    assert resp.status_code == 200, resp.text
    product: dict[str, Any] = resp.json()["product"]
    return product


async def buy(store: Store, who: Who, quantity: int, key: str) -> dict[str, Any]:
    resp = await store.rest.http.post(
        "/api/orders", json={"product_id": store.product["id"], "quantity": quantity},
        headers={**auth(who), "Idempotency-Key": key},
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    order: dict[str, Any] = resp.json()["order"]
    return order


async def test_joining_leaving_and_the_owners_view(store: Store) -> None:
    ann, ben = await store.buyer("ann"), await store.buyer("ben")
    assert_error(await join(store, None), 401)
    assert_error(await join(store, await store.rest.register("bare")), 409,
                 "checkout_profile_required")  # fmt: skip
    assert_error(await join(store, ann, 2), 409, "in_stock")  # 6 in stock: buy them
    assert_error(await join(store, ann, 0), 422, "validation_error")
    missing = await store.rest.http.post("/api/products/999999/waitlist", headers=auth(ann))
    assert_error(missing, 404)
    await set_stock(store, 0)
    first = await join(store, ann)
    assert first.status_code == 201, first.text
    assert first.json()["waitlist"] == {"product_id": store.product["id"], "position": 1,
                                        "quantity": 1}  # fmt: skip
    assert (await join(store, ben, 2)).json()["waitlist"]["position"] == 2
    again = await join(store, ann, 3)  # the same place, the new quantity
    assert again.json()["waitlist"] == {"product_id": store.product["id"], "position": 1,
                                        "quantity": 3}  # fmt: skip
    assert await listed(store) == [("ann", 3), ("ben", 2)]
    forbidden = await store.rest.http.get(
        f"/api/products/{store.product['id']}/waitlist", headers=auth(ann)
    )
    assert_error(forbidden, 403)
    for _ in range(2):  # leaving twice is no error
        left = await store.rest.http.delete(
            f"/api/products/{store.product['id']}/waitlist", headers=auth(ann)
        )
        assert left.status_code == 204
    assert await listed(store) == [("ben", 2)]
    assert (await join(store, ann)).json()["waitlist"]["position"] == 2  # back of the line


async def test_units_that_come_back_go_to_the_waitlist_in_order(store: Store) -> None:
    ann, ben, cid = [await store.buyer(n) for n in ("ann", "ben", "cid")]
    bought = await buy(store, ann, 6, "all-of-them")
    for who in (ben, cid):
        assert (await join(store, who)).status_code == 201
    url = store.server.ws_url(store.live["id"], token=ben["token"])
    async with connect(url) as ben_ws:
        await snapshot(ben_ws)
        cancel = await store.rest.http.post(f"/api/orders/{bought['id']}/cancel", headers=auth(ann))
        assert cancel.status_code == 200, cancel.text
        got = (await until(ben_ws, "order"))[-1]["data"]["order"]
    assert (got["source"], got["quantity"], got["unit_price_cents"]) == ("waitlist", 1, 5_000)
    assert got["live_id"] is None and got["status"] == "placed"
    # Six units came back: ben and cid got one each, four are for sale again.
    assert await listed(store) == []
    product = (await store.rest.http.get(f"/api/products/{store.product['id']}")).json()
    assert product["product"]["stock"] == 4
    sources = [o.source for o in await store.orders()]
    assert sources == ["direct", "waitlist", "waitlist"]


async def test_a_restock_serves_in_order_and_skips_a_declined_card(store: Store) -> None:
    await set_stock(store, 0)
    dee = await store.buyer("dee", "tok_declined")
    eve, fay = await store.buyer("eve"), await store.buyer("fay")
    for who, quantity in ((dee, 1), (eve, 2), (fay, 1)):
        assert (await join(store, who, quantity)).status_code == 201
    url = store.server.ws_url(store.live["id"], token=dee["token"])
    async with connect(url) as dee_ws:
        await snapshot(dee_ws)
        after = await set_stock(store, 2)  # dee declined, eve takes both; fay waits
        told = (await until(dee_ws, "waitlist_skipped"))[-1]["data"]
    assert told == {"product_id": store.product["id"], "code": "payment_declined",
                    "message": told["message"]}  # fmt: skip
    assert after["stock"] == 0
    assert await listed(store) == [("fay", 1)]
    orders = await store.orders()
    assert [(o.buyer_id, o.quantity, o.source) for o in orders] == [
        (eve["user"]["id"], 2, "waitlist")
    ]


async def test_first_come_first_served_a_big_wish_holds_the_line(store: Store) -> None:
    await set_stock(store, 0)
    ann, ben = await store.buyer("ann"), await store.buyer("ben")
    await join(store, ann, 3)
    await join(store, ben, 1)
    assert (await set_stock(store, 2))["stock"] == 2  # ann wants 3: nobody is served yet
    assert await listed(store) == [("ann", 3), ("ben", 1)]
    assert (await set_stock(store, 4))["stock"] == 0  # ann's 3, then ben's 1
    assert await listed(store) == []


@pytest.fixture
async def big_server(settings: Settings) -> Any:
    async with serve(replace(settings, max_sockets_per_address=2_000,
                             presence_interval_s=0.5)) as server:  # fmt: skip
        yield server


async def test_a_comment_storm_sells_each_unit_once_and_queues_the_rest(
    big_server: LiveServer,
) -> None:
    """500 ``sold`` comments at once for a deal of 20 units: exactly 20 orders; the other
    480 claimants are waitlisted, each told a distinct place, in the list's order."""
    async with rest_for(big_server.url, http_timeout_s=60) as rest:
        owner = await rest.register("cara", "creator")
        product = await rest.product(owner, title="Lamp", price_cents=5_000, stock=20)
        live = await rest.live(owner, start=True)
        store = Store(rest, big_server, owner, live, product)
        deal = {**DEAL, "quantity": 20, "per_buyer_limit": 1}
        assert (await store.pin(deal=deal)).status_code == 200
        buyers = await bidders([rest], 500, prefix="c")
        answers = await _storm(store, buyers)
        waitlist = await listed(store)
    orders = await store.orders()
    assert len(orders) == 20 and {o.quantity for o in orders} == {1}
    assert {o.source for o in orders} == {"comment"}
    assert {o.unit_price_cents for o in orders} == {3_000}
    kinds = [a["type"] for a in answers]
    errors = [a["data"] for a in answers if a["type"] == "error"]
    assert kinds.count("order") == 20 and kinds.count("waitlisted") == 480, errors[:3]
    positions = {a["data"]["position"]: who for who, a in zip(buyers, answers, strict=True)
                 if a["type"] == "waitlisted"}  # fmt: skip
    assert sorted(positions) == list(range(1, 481))
    assert [name for name, _q in waitlist] == [
        positions[p]["user"]["username"] for p in range(1, 481)
    ]


async def _storm(store: Store, buyers: list[Who]) -> list[dict[str, Any]]:
    """Every buyer's socket joins; then all send ``sold`` at once; their answers."""
    sockets = []
    for first in range(0, len(buyers), 50):
        batch = buyers[first : first + 50]
        sockets += await asyncio.gather(*(
            connect(store.server.ws_url(store.live["id"], token=b["token"])) for b in batch
        ))  # fmt: skip
    try:
        await asyncio.gather(*(snapshot(ws) for ws in sockets))
        await asyncio.gather(*(chat(ws, "SOLD") for ws in sockets))
        return list(await asyncio.gather(*(outcome(ws, among=5_000, within=60) for ws in sockets)))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
