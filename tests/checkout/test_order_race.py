"""Checkout under concurrency and its frames, against a real uvicorn (contract: Orders,
WebSocket ``order``/``stock``/``deal_ended``), on SQLite and PostgreSQL.

Many buyers racing for the last units never oversell; one key racing itself
makes one order; deal quantity and per-buyer limits hold under a race and the
claim taking the last deal unit ends the deal once; stock frames reach the
live's viewers; order frames reach every socket of the buyer and nobody else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.accounts import Role
from tests.http_helpers import http_client
from tests.live_server import LiveServer
from tests.order_helpers import (
    AsyncShop,
    check_order,
    frames_until_pong,
    fresh_key,
    next_of,
    statuses,
)
from tests.ws_helpers import Frame, Rest, Who, auth, make_user, snapshot


class World:
    """A real server, a creator, staff, and helpers to make buyers."""

    def __init__(self, server: LiveServer, http: httpx.AsyncClient) -> None:
        self.server = server
        self.rest = Rest(http)
        self.shop = AsyncShop(http)
        self.http = http
        self.owner: Who = {}
        self.staff: Who = {}

    async def setup(self) -> World:
        self.owner = await self.rest.register("owner", "creator")
        self.staff = await make_user(self.server.state, "staff", Role.STAFF)
        return self

    async def buyers(self, count: int, prefix: str = "buyer") -> list[Who]:
        return [
            await make_user(self.server.state, f"{prefix}{i}", Role.VIEWER) for i in range(count)
        ]

    async def deal(self) -> tuple[dict[str, Any], int]:
        """A product (2000 cents, 100 in stock) pinned on a started live with a deal of
        3 units at 500 cents, one per buyer: (product, live id)."""
        product = await self.rest.product(self.owner, price_cents=2000, stock=100)
        live = await self.rest.live(self.owner, start=True)
        await self.rest.pinned(
            self.owner, live["id"], product["id"], price_cents=500, quantity=3,
            per_buyer_limit=1, duration_s=600,
        )  # fmt: skip
        return product, live["id"]

    async def watch(
        self, stack: contextlib.AsyncExitStack, live_id: int, who: Who | None = None
    ) -> ClientConnection:
        """A socket on the live, joined (snapshot read, private channel subscribed)."""
        token = who["token"] if who else None
        ws = await stack.enter_async_context(connect(self.server.ws_url(live_id, token=token)))
        await snapshot(ws)
        assert await frames_until_pong(ws) == []  # joined completely
        return ws


@pytest.fixture
async def world(server: LiveServer) -> AsyncIterator[World]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with http_client(server.url, timeout=30, limits=limits) as http:
        yield await World(server, http).setup()


def codes(responses: list[httpx.Response]) -> Counter[Any]:
    return Counter(
        201 if r.status_code == 201 else (r.status_code, r.json()["error"]["code"])
        for r in responses
    )


async def test_forty_buyers_race_for_five_units(world: World) -> None:
    product = await world.rest.product(world.owner, price_cents=700, stock=5)
    buyers = await world.buyers(40)
    answers = await asyncio.gather(*(world.shop.order(b, product["id"]) for b in buyers))
    assert codes(answers) == Counter({201: 5, (409, "insufficient_stock"): 35})
    winners = [r.json()["order"] for r in answers if r.status_code == 201]
    assert len({o["id"] for o in winners}) == 5
    assert len({o["buyer_id"] for o in winners}) == 5
    assert (await world.shop.product(product["id"]))["stock"] == 0
    board = await world.shop.board(world.staff)
    assert sorted(o["id"] for o in board) == sorted(o["id"] for o in winners)


async def test_many_units_many_buyers_never_oversell(world: World) -> None:
    # Quantities that do not divide the stock: whatever the interleaving, the sum sold
    # never exceeds what there was and what is left is exactly stock - sold.
    product = await world.rest.product(world.owner, price_cents=100, stock=17)
    buyers = await world.buyers(15)
    answers = await asyncio.gather(
        *(world.shop.order(b, product["id"], quantity=1 + i % 3) for i, b in enumerate(buyers))
    )
    assert set(codes(answers)) <= {201, (409, "insufficient_stock")}
    sold = sum(r.json()["order"]["quantity"] for r in answers if r.status_code == 201)
    assert 17 - 2 <= sold <= 17  # a buyer asking 1..3 is refused only when fewer are left
    assert (await world.shop.product(product["id"]))["stock"] == 17 - sold


async def test_one_key_racing_itself_makes_one_order(world: World) -> None:
    product = await world.rest.product(world.owner, price_cents=900, stock=10)
    (buyer,) = await world.buyers(1)
    key = fresh_key()
    answers = await asyncio.gather(
        *(world.shop.order(buyer, product["id"], quantity=2, key=key) for _ in range(10))
    )
    assert [r.status_code for r in answers] == [201] * 10, [r.text for r in answers]
    ids = {r.json()["order"]["id"] for r in answers}
    assert len(ids) == 1
    replayed = [r.headers.get("Idempotent-Replayed") for r in answers]
    assert replayed.count("true") == 9, replayed
    assert (await world.shop.product(product["id"]))["stock"] == 8
    assert [o["id"] for o in await world.shop.board(world.staff)] == list(ids)

    # One key racing with different bodies: one order, every other answer a mismatch.
    key = fresh_key()
    answers = await asyncio.gather(
        *(world.shop.order(buyer, product["id"], quantity=q, key=key) for q in (1, 2, 3, 4))
    )
    assert codes(answers) == Counter({201: 1, (422, "idempotency_mismatch"): 3})
    (won,) = [r.json()["order"] for r in answers if r.status_code == 201]
    assert (await world.shop.product(product["id"]))["stock"] == 8 - won["quantity"]
    assert len(await world.shop.board(world.staff)) == 2


async def test_a_deal_sells_exactly_its_quantity_and_ends_once(world: World) -> None:
    product, lid = await world.deal()
    buyers = await world.buyers(10)
    async with contextlib.AsyncExitStack() as stack:
        viewer = await world.watch(stack, lid)
        answers = await asyncio.gather(
            *(world.shop.order(b, product["id"], live_id=lid) for b in buyers)
        )
        assert codes(answers) == Counter({201: 10}), [r.text for r in answers]
        prices = Counter(r.json()["order"]["unit_price_cents"] for r in answers)
        assert prices == Counter({500: 3, 2000: 7})
        seen = await frames_until_pong(viewer)
    ended = [f for f in seen if f["type"] == "deal_ended"]
    assert [(f["data"], f["seq"] is not None) for f in ended] == [
        ({"product_id": product["id"], "reason": "sold_out"}, True)
    ]
    stock_frames = [f for f in seen if f["type"] == "stock"]
    # In seq order the stock only goes down: a frame never shows an older figure.
    assert [f["data"]["stock"] for f in stock_frames] == list(range(99, 89, -1))
    seqs = [f["seq"] for f in seen if f["seq"] is not None]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    events = await world.rest.events(lid)
    assert [e["data"]["reason"] for e in events if e["type"] == "deal_ended"] == ["sold_out"]
    assert (await world.shop.product(product["id"]))["stock"] == 90
    pinned = (await world.rest.get_live(lid))["pinned"]
    assert pinned["product"]["id"] == product["id"]
    assert pinned["deal"] is None or pinned["deal"]["remaining"] == 0


async def test_one_buyer_racing_a_per_buyer_limit_gets_one(world: World) -> None:
    product, lid = await world.deal()
    (buyer,) = await world.buyers(1)
    answers = await asyncio.gather(
        *(world.shop.order(buyer, product["id"], live_id=lid) for _ in range(5))
    )
    assert codes(answers) == Counter({201: 1, (409, "deal_limit_exceeded"): 4})
    (order,) = [r.json()["order"] for r in answers if r.status_code == 201]
    assert order["unit_price_cents"] == 500
    assert (await world.shop.product(product["id"]))["stock"] == 99
    deal = (await world.rest.get_live(lid))["pinned"]["deal"]
    assert deal["remaining"] == 2
    # Over the limit in one go is refused too; the list price stays open without live_id.
    (other,) = await world.buyers(1, "other")
    resp = await world.shop.order(other, product["id"], quantity=2, live_id=lid)
    assert (resp.status_code, resp.json()["error"]["code"]) == (409, "deal_limit_exceeded")
    assert (await world.shop.place(buyer, product["id"]))["unit_price_cents"] == 2000
    assert (await world.shop.product(product["id"]))["stock"] == 98
    assert (await world.rest.get_live(lid))["pinned"]["deal"]["remaining"] == 2


async def test_deal_price_only_while_the_deal_runs_and_has_units(world: World) -> None:
    product = await world.rest.product(world.owner, price_cents=2000, stock=100)
    live = await world.rest.live(world.owner, start=True)
    lid, pid = live["id"], product["id"]
    first, second, third = await world.buyers(3)
    async with contextlib.AsyncExitStack() as stack:
        viewer = await world.watch(stack, lid)
        await world.rest.pinned(world.owner, lid, pid, price_cents=500, quantity=1, duration_s=600)
        # Not through the live: list price, the deal untouched.
        assert (await world.shop.place(first, pid))["unit_price_cents"] == 2000
        order = await world.shop.place(first, pid, live_id=lid)
        assert (order["unit_price_cents"], order["total_cents"]) == (500, 500)
        ended = await next_of(viewer, "deal_ended")
        assert ended["data"] == {"product_id": pid, "reason": "sold_out"}
        # Sold out: the list price, through the live as well.
        assert (await world.shop.place(second, pid, live_id=lid))["unit_price_cents"] == 2000

        # A deal that expired is over too.
        await world.rest.pinned(world.owner, lid, pid, price_cents=300, quantity=5, duration_s=1)
        ended = await next_of(viewer, "deal_ended")
        assert ended["data"] == {"product_id": pid, "reason": "expired"}
        assert (await world.shop.place(third, pid, live_id=lid))["unit_price_cents"] == 2000

        # And one that was unpinned.
        await world.rest.pinned(world.owner, lid, pid, price_cents=300, quantity=5, duration_s=600)
        assert (await world.shop.place(third, pid, live_id=lid))["unit_price_cents"] == 300
        assert (await world.rest.unpin(world.owner, lid)).status_code == 204
        ended = await next_of(viewer, "deal_ended")
        assert ended["data"] == {"product_id": pid, "reason": "unpinned"}
        assert (await world.shop.place(second, pid, live_id=lid))["unit_price_cents"] == 2000
    assert (await world.shop.product(pid))["stock"] == 94


async def test_stock_frames_after_orders_cancellations_and_restocks(world: World) -> None:
    product = await world.rest.product(world.owner, price_cents=1500, stock=10)
    live = await world.rest.live(world.owner, start=True)
    elsewhere = await world.rest.live(world.owner, start=True)
    lid, pid = live["id"], product["id"]
    await world.rest.pinned(world.owner, lid, pid)
    (buyer,) = await world.buyers(1)
    async with contextlib.AsyncExitStack() as stack:
        viewers = [await world.watch(stack, lid), await world.watch(stack, lid, buyer)]
        bystander = await world.watch(stack, elsewhere["id"])

        async def stock_frame(ws: ClientConnection) -> Frame:
            frame = await next_of(ws, "stock")
            assert frame["live_id"] == lid and isinstance(frame["seq"], int), frame
            return frame

        order = await world.shop.place(buyer, pid, 3)  # no live_id: still on the pinned card
        for ws in viewers:
            frame = await stock_frame(ws)
            assert {k: frame["data"][k] for k in ("product_id", "stock", "sold")} == {
                "product_id": pid,
                "stock": 7,
                "sold": 3,
            }
        resp = await world.http.post(f"/api/orders/{order['id']}/cancel", headers=auth(buyer))
        assert resp.status_code == 200, resp.text
        for ws in viewers:
            frame = await stock_frame(ws)
            assert (frame["data"]["stock"], frame["data"]["sold"]) == (10, 0)
        resp = await world.http.patch(
            f"/api/products/{pid}", json={"stock": 25}, headers=auth(world.owner)
        )
        assert resp.status_code == 200, resp.text
        for ws in viewers:
            frame = await stock_frame(ws)
            assert (frame["data"]["product_id"], frame["data"]["stock"]) == (pid, 25)
        # A live that does not show the product hears nothing of it.
        assert [f["type"] for f in await frames_until_pong(bystander)] == []
    stock_events = [e for e in await world.rest.events(lid) if e["type"] == "stock"]
    assert [e["data"]["stock"] for e in stock_events] == [7, 10, 25]


async def order_frames(ws: ClientConnection, order_id: int, wanted: list[str]) -> list[Frame]:
    """``order`` frames for ``order_id`` until every status in ``wanted`` was seen."""
    got: list[Frame] = []
    while not set(wanted) <= {f["data"]["order"]["status"] for f in got}:
        frame = await next_of(ws, "order")
        assert frame["seq"] is None, frame
        assert set(frame["data"]) == {"order"}, frame
        check_order(frame["data"]["order"])
        if frame["data"]["order"]["id"] == order_id:
            got.append(frame)
    return got


async def test_order_frames_reach_every_socket_of_the_buyer_only(world: World) -> None:
    product = await world.rest.product(world.owner, price_cents=1500, stock=10)
    live_a = await world.rest.live(world.owner, start=True)
    live_b = await world.rest.live(world.owner, start=True)
    pid = product["id"]
    await world.rest.pinned(world.owner, live_a["id"], pid)
    buyer, other = await world.buyers(2)
    async with contextlib.AsyncExitStack() as stack:
        mine = [await world.watch(stack, live_a["id"], buyer),
                await world.watch(stack, live_b["id"], buyer)]  # fmt: skip
        others = [
            await world.watch(stack, live_a["id"], other),
            await world.watch(stack, live_a["id"]),
            await world.watch(stack, live_b["id"], world.owner),
            await world.watch(stack, live_a["id"], world.staff),
        ]
        placed = await world.shop.place(buyer, pid, 2, live_id=live_a["id"])
        oid = placed["id"]
        # Placed, then accepted by the in-process consumer (no Redis) on its own.
        for ws in mine:
            got = await order_frames(ws, oid, ["placed", "accepted"])
            by_status = {f["data"]["order"]["status"]: f["data"]["order"] for f in got}
            assert len(got) == 2 and set(by_status) == {"placed", "accepted"}
            assert [(h["status"], h["by"]) for h in by_status["accepted"]["history"]] == [
                ("placed", buyer["user"]["username"]),
                ("accepted", "fulfillment"),
            ]
            first = by_status["placed"]
            assert {k: first[k] for k in ("id", "buyer_id", "live_id", "total_cents")} == {
                k: placed[k] for k in ("id", "buyer_id", "live_id", "total_cents")
            }
        for to in ("picking", "packed", "shipped", "delivered"):
            moved = await world.shop.transition(world.staff, oid, to)
            for ws in mine:
                (frame,) = await order_frames(ws, oid, [to])
                assert frame["data"]["order"] == moved, to
        resp = await world.http.post(
            f"/api/orders/{oid}/return", json={"reason": "too big"}, headers=auth(buyer)
        )
        assert resp.status_code == 200, resp.text
        for ws in mine:
            (frame,) = await order_frames(ws, oid, ["return_requested"])
            assert frame["data"]["order"] == resp.json()["order"]
        final = await world.shop.fetch(buyer, oid)
        assert statuses(final) == [
            "placed", "accepted", "picking", "packed", "shipped", "delivered", "return_requested",
        ]  # fmt: skip
        # Nobody else got any of them (their sockets answer a ping after every frame
        # that was ever meant for them).
        for ws in others:
            types = [f["type"] for f in await frames_until_pong(ws)]
            assert "order" not in types, types
        for ws in mine:
            assert "order" not in [f["type"] for f in await frames_until_pong(ws)]


async def test_a_buyer_sees_orders_placed_elsewhere_and_without_a_live(world: World) -> None:
    product = await world.rest.product(world.owner, price_cents=1500, stock=10)
    live = await world.rest.live(world.owner, start=True)
    (buyer,) = await world.buyers(1)
    async with contextlib.AsyncExitStack() as stack:
        ws = await world.watch(stack, live["id"], buyer)
        placed = await world.shop.place(buyer, product["id"])  # no live at all
        got = await order_frames(ws, placed["id"], ["placed", "accepted"])
        assert got[0]["data"]["order"]["live_id"] is None
        assert {f["data"]["order"]["status"] for f in got} == {"placed", "accepted"}
        # Cancelling is a status change too.
        resp = await world.http.post(f"/api/orders/{placed['id']}/cancel", headers=auth(buyer))
        assert resp.status_code == 200, resp.text
        (frame,) = await order_frames(ws, placed["id"], ["cancelled"])
        assert frame["data"]["order"]["payment_status"] == "voided"
    # Every server frame's envelope names a live ("live_id": id); an order bought
    # outside any live still reaches the socket of a live, so it should carry one.
    for sent in [*got, frame]:
        assert isinstance(sent["live_id"], int), sent


async def test_cancelling_while_the_queue_accepts_still_cancels(world: World) -> None:
    """A buyer cancelling right after buying races the in-process consumer accepting
    the order. Both ``placed`` and ``accepted`` may be cancelled, so whichever wins,
    the cancel succeeds and the units come back exactly once."""
    product = await world.rest.product(world.owner, price_cents=100, stock=1000)
    (buyer,) = await world.buyers(1)
    refused: list[tuple[int, str, list[str]]] = []
    for _ in range(40):
        order = await world.shop.place(buyer, product["id"], 2)
        resp = await world.http.post(f"/api/orders/{order['id']}/cancel", headers=auth(buyer))
        now = await world.shop.fetch(buyer, order["id"])
        if resp.status_code != 200:
            refused.append((resp.status_code, resp.text, statuses(now)))
            continue
        assert statuses(now) in (
            ["placed", "cancelled"],
            ["placed", "accepted", "cancelled"],
        ), now
    left = (await world.shop.product(product["id"]))["stock"]
    assert refused == [], f"{len(refused)} of 40 cancels refused: {refused[:2]}"
    assert left == 1000


async def test_an_order_read_is_one_consistent_snapshot(world: World) -> None:
    """The status shown and the history shown come from the same moment.

    Read while the in-process consumer accepts the order, an answer must not say
    ``placed`` with an ``accepted`` line in its history (or the reverse).
    """
    product = await world.rest.product(world.owner, price_cents=100, stock=1000)
    (buyer,) = await world.buyers(1)
    torn: list[tuple[str, list[str]]] = []
    reads = 0
    for _ in range(20):
        order = await world.shop.place(buyer, product["id"])
        answers = await asyncio.gather(
            *(world.http.get(f"/api/orders/{order['id']}", headers=auth(buyer)) for _ in range(4)),
            world.http.get("/api/orders?limit=1", headers=auth(buyer)),
            world.http.get("/api/fulfillment/orders?limit=1", headers=auth(world.staff)),
        )
        for resp in answers:
            assert resp.status_code == 200, resp.text
            body = resp.json()
            seen = body["order"] if "order" in body else body["orders"][0]
            reads += 1
            if seen["history"][-1]["status"] != seen["status"]:
                torn.append((seen["status"], statuses(seen)))
    assert torn == [], f"{len(torn)} of {reads} reads mixed two moments: {torn[:3]}"
