"""The order desk: concurrent orders for one product are placed in batches, one
transaction each (``checkout.desk``, ``checkout.placing``), on SQLite and PostgreSQL.

A batch answers refusals and replays before it commits; an order through a live
that fails inside a batch undoes only its own writes and frames; two server
processes racing for the same units (and the same keys) still sell exactly the
stock, once per key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import insert

from app.accounts import Role, User, hash_password
from app.routes.orders import order_answer
from app.settings import Settings
from app.tokens import TokenSigner
from checkout import inventory
from checkout.desk import OrderDesk
from checkout.errors import CheckoutError, InsufficientStock, PaymentDeclined
from checkout.models import MAIN
from checkout.orders import OrderRequest, Placement, move_stock
from checkout.payments import TestPaymentProvider
from checkout.placing import NothingToKeep, Outcome, place_batch
from common.times import utcnow
from tests.checkout.test_order_race import World
from tests.http_helpers import http_client
from tests.live_server import LiveServer, ServerProcess, processes, with_redis
from tests.order_helpers import (
    AsyncShop,
    frames_until_pong,
    fresh_key,
    order_body,
)
from tests.services import redis_db
from tests.ws_helpers import Who, auth

SHIPPING: dict[str, str] = order_body(1, 1, None)["shipping"]


@pytest.fixture
async def world(server: LiveServer) -> AsyncIterator[World]:
    async with http_client(server.url, timeout=30) as http:
        yield await World(server, http).setup()


def request(who: Who, product_id: int, quantity: int = 1, **kw: Any) -> OrderRequest:
    return OrderRequest(
        buyer_id=who["user"]["id"], buyer_name=who["user"]["username"],
        idempotency_key=kw.pop("key", None) or fresh_key(), product_id=product_id,
        quantity=quantity, shipping=SHIPPING, **kw,
    )  # fmt: skip


async def batch(world: World, reqs: list[OrderRequest]) -> tuple[list[Outcome], list[int]]:
    """Place ``reqs`` as one batch; returns the outcomes and which were settled early."""
    st = world.server.state
    early: list[int] = []
    try:
        async with st.commerce.transaction() as unit:
            result = await place_batch(
                unit, reqs, payments=st.payments, render=order_answer,
                settle=lambda i, _outcome: early.append(i),
            )  # fmt: skip
    except NothingToKeep as nothing:  # rolled back, answered anyway
        return nothing.result.outcomes, early
    return result.outcomes, early


async def test_a_batch_answers_refusals_and_replays_before_it_commits(world: World) -> None:
    product = await world.rest.product(world.owner, price_cents=700, stock=3)
    pid = product["id"]
    buyers = await world.buyers(4)
    earlier = await world.shop.place(buyers[3], pid, key="kept-key")  # stock 3 -> 2
    reqs = [
        request(buyers[0], pid),  # fits
        request(buyers[1], pid, quantity=2),  # does not fit once the first took one
        request(buyers[2], pid),  # fits
        request(buyers[3], pid, key="kept-key"),  # seen before: a replay
    ]
    outcomes, early = await batch(world, reqs)
    assert sorted(early) == [1, 3]  # decided without waiting for the commit
    new, short, second, replay = outcomes
    assert isinstance(new, Placement) and not new.replayed
    assert isinstance(second, Placement) and not second.replayed
    assert isinstance(short, InsufficientStock) and short.data["available"] == 0
    assert isinstance(replay, Placement) and replay.replayed
    assert replay.order.id == earlier["id"]
    # Their answers were stored with the orders: retrying a key replays the same body.
    again = await world.shop.order(buyers[0], pid, key=reqs[0].idempotency_key)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == json.loads(new.response or "")
    assert (await world.shop.product(pid))["stock"] == 0
    # The refused key was not kept: it is free for a new attempt (refused again: sold out).
    retry = await world.shop.order(buyers[1], pid, quantity=2, key=reqs[1].idempotency_key)
    assert retry.status_code == 409
    assert retry.json()["error"]["code"] == "insufficient_stock"


async def test_an_order_through_a_live_failing_in_a_batch_undoes_only_itself(
    world: World,
) -> None:
    product = await world.rest.product(world.owner, price_cents=350, stock=5)
    pid = product["id"]
    live = await world.rest.live(world.owner, start=True)
    lid = live["id"]
    await world.rest.pinned(world.owner, lid, pid, price_cents=300, quantity=2, duration_s=600)
    plain_buyer, deal_buyer = await world.buyers(2)
    st = world.server.state
    st.payments.decline_over_cents = 400  # 2 x 300 at the deal price is declined
    async with contextlib.AsyncExitStack() as stack:
        viewer = await world.watch(stack, lid)
        outcomes, _early = await batch(world, [
            request(plain_buyer, pid),  # 350: authorized
            request(deal_buyer, pid, quantity=2, live_id=lid),  # takes the whole deal, declined
            request(plain_buyer, pid),  # 350: authorized
        ])  # fmt: skip
        seen = await frames_until_pong(viewer)
    first, declined, third = outcomes
    assert isinstance(first, Placement) and isinstance(third, Placement)
    assert isinstance(declined, PaymentDeclined)
    # The declined claim had ended the deal (its last units) inside its savepoint: all undone.
    assert [f["type"] for f in seen] == ["stock", "stock"]
    assert [f["data"]["stock"] for f in seen] == [4, 3]
    assert [f["data"]["deal_remaining"] for f in seen] == [2, 2]
    seqs = [f["seq"] for f in seen]
    assert seqs == [seqs[0], seqs[0] + 1]  # no hole where the undone frame was
    deal = (await world.rest.get_live(lid))["pinned"]["deal"]
    assert deal is not None and deal["remaining"] == 2
    assert not [e for e in await world.rest.events(lid) if e["type"] == "deal_ended"]
    assert (await world.shop.product(pid))["stock"] == 3


async def test_refusals_in_a_sale_get_the_stock_left(world: World) -> None:
    product = await world.rest.product(world.owner, price_cents=100, stock=4)
    pid = product["id"]
    buyers = await world.buyers(6)
    quantities = [1, 4, 2, 1, 5, 1]
    reqs = [request(b, pid, quantity=q) for b, q in zip(buyers, quantities, strict=True)]
    outcomes, early = await batch(world, reqs)
    kinds = [type(o).__name__ for o in outcomes]
    # First come, first served: 1 fits (3 left); 4 does not; 2 fits (1 left); 1 takes the
    # last unit; everything after finds none.
    assert kinds == ["Placement", "InsufficientStock", "Placement", "Placement",
                     "InsufficientStock", "InsufficientStock"]  # fmt: skip
    assert early == [1, 4, 5]
    assert [o.data["available"] for o in outcomes if isinstance(o, CheckoutError)] == [0, 0, 0]
    assert (await world.shop.product(pid))["stock"] == 0


async def test_a_batch_refuses_to_hold_one_key_twice_or_two_products(world: World) -> None:
    product = await world.rest.product(world.owner, stock=5)
    other = await world.rest.product(world.owner, stock=5)
    (buyer,) = await world.buyers(1)
    with pytest.raises(ValueError, match="one request per"):
        await batch(world, [request(buyer, product["id"], key="k"),
                            request(buyer, product["id"], key="k")])  # fmt: skip
    with pytest.raises(ValueError, match="one product"):
        await batch(world, [request(buyer, product["id"]), request(buyer, other["id"])])
    assert (await world.shop.product(product["id"]))["stock"] == 5


async def test_a_declined_payment_leaves_its_units_to_the_next_in_line(world: World) -> None:
    product = await world.rest.product(world.owner, price_cents=100, stock=5)
    pid = product["id"]
    first, second, third = await world.buyers(3)
    world.server.state.payments.decline_over_cents = 350  # 4 x 100 is declined
    outcomes, _early = await batch(world, [
        request(first, pid, quantity=4),  # fits, declined
        request(second, pid, quantity=3),  # did not fit behind the first; now does
        request(third, pid, quantity=2),
    ])  # fmt: skip
    assert [type(o).__name__ for o in outcomes] == ["PaymentDeclined", "Placement", "Placement"]
    assert (await world.shop.product(pid))["stock"] == 0


async def deal_on_live(
    world: World, *, stock: int, quantity: int, per_buyer_limit: int | None = None
) -> tuple[int, int]:
    """A product (list price 400) pinned on a running live with a deal at 300 on
    ``quantity`` units; returns (product id, live id)."""
    product = await world.rest.product(world.owner, price_cents=400, stock=stock)
    live = await world.rest.live(world.owner, start=True)
    deal: dict[str, Any] = {"price_cents": 300, "quantity": quantity, "duration_s": 600}
    if per_buyer_limit is not None:
        deal["per_buyer_limit"] = per_buyer_limit
    await world.rest.pinned(world.owner, live["id"], product["id"], **deal)
    return product["id"], live["id"]


def only_postgres(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: nothing can sell in between")


class SoldElsewhere:
    """A ``DealDesk`` that, while the batch locks its lives (after it read the product,
    before it takes stock), lets another transaction sell every unit and commit."""

    def __init__(self, deals: Any, database_url: str, product_id: int, units: int = 2) -> None:
        self.deals, self.database_url, self.product_id = deals, database_url, product_id
        self.units = units

    def __getattr__(self, name: str) -> Any:
        return getattr(self.deals, name)

    async def lock_lives(self, session: Any, live_ids: list[int]) -> None:
        from app.db import Database

        other = Database.from_url(self.database_url)
        try:
            async with other.write() as elsewhere:
                await move_stock(elsewhere, self.product_id, -self.units)
                await inventory.allocate(elsewhere, self.product_id, {MAIN: self.units})
        finally:
            await other.dispose()
        await self.deals.lock_lives(session, live_ids)


async def test_stock_sold_elsewhere_mid_batch_is_not_sold_again(
    world: World, settings: Settings
) -> None:
    only_postgres(settings)
    pid, lid = await deal_on_live(world, stock=2, quantity=5)
    deal_buyer, plain_buyer = await world.buyers(2)
    st = world.server.state
    st.payments.calls.clear()
    async with st.commerce.transaction() as unit:
        unit.deals = SoldElsewhere(unit.deals, settings.database_url, pid)  # type: ignore[assignment]
        try:
            await place_batch(
                unit, [request(deal_buyer, pid, live_id=lid), request(plain_buyer, pid)],
                payments=st.payments, render=order_answer,
            )  # fmt: skip
        except NothingToKeep as nothing:
            outcomes = nothing.result.outcomes
    assert [type(o).__name__ for o in outcomes] == ["InsufficientStock", "InsufficientStock"]
    assert [o.data["available"] for o in outcomes if isinstance(o, CheckoutError)] == [0, 0]
    deal = (await world.rest.get_live(lid))["pinned"]["deal"]
    assert deal is not None and deal["remaining"] == 5  # the claim was undone
    # Decided on the stock as it is under the locks, not as first read: nothing was even
    # authorized.
    assert list(st.payments.calls) == []
    assert (await world.shop.product(pid))["stock"] == 0  # what the other transaction sold


async def test_a_live_run_is_decided_on_the_stock_as_it_is_under_the_lock(
    world: World, settings: Settings
) -> None:
    only_postgres(settings)
    pid, lid = await deal_on_live(world, stock=5, quantity=10)
    a, b, c = await world.buyers(3)
    st = world.server.state
    async with st.commerce.transaction() as unit:
        unit.deals = SoldElsewhere(unit.deals, settings.database_url, pid, units=3)  # type: ignore[assignment]
        result = await place_batch(
            unit,
            [request(a, pid, quantity=3, live_id=lid), request(b, pid, live_id=lid),
             request(c, pid, live_id=lid)],
            payments=st.payments, render=order_answer,
        )  # fmt: skip
    first, second, third = result.outcomes
    assert isinstance(first, InsufficientStock) and first.data["available"] == 2
    assert isinstance(second, Placement) and isinstance(third, Placement)
    assert [o.order.unit_price_cents for o in (second, third)] == [300, 300]
    assert (await world.shop.product(pid))["stock"] == 0
    deal = (await world.rest.get_live(lid))["pinned"]["deal"]
    assert deal is not None and deal["remaining"] == 8


async def test_a_deal_selling_out_in_a_batch_ends_after_its_last_order(world: World) -> None:
    pid, lid = await deal_on_live(world, stock=10, quantity=2)
    buyers = await world.buyers(3)
    async with contextlib.AsyncExitStack() as stack:
        viewer = await world.watch(stack, lid)
        outcomes, _early = await batch(world, [request(b, pid, live_id=lid) for b in buyers])
        seen = await frames_until_pong(viewer)
    prices = [o.order.unit_price_cents for o in outcomes if isinstance(o, Placement)]
    assert prices == [300, 300, 400]  # the deal's two units, then the list price
    assert [f["type"] for f in seen] == ["stock", "stock", "deal_ended", "stock"]
    stock_frames = [f["data"] for f in seen if f["type"] == "stock"]
    assert [(d["stock"], d["deal_remaining"]) for d in stock_frames] == [(9, 1), (8, 0), (7, None)]
    assert seen[2]["data"] == {"product_id": pid, "reason": "sold_out"}
    seqs = [f["seq"] for f in seen]
    assert seqs == list(range(seqs[0], seqs[0] + 4))


async def test_stock_is_checked_before_the_deal_as_for_one_order(world: World) -> None:
    pid, lid = await deal_on_live(world, stock=5, quantity=5, per_buyer_limit=1)
    plain, deal_buyer = await world.buyers(2)
    outcomes, _early = await batch(
        world, [request(plain, pid, quantity=4), request(deal_buyer, pid, quantity=2, live_id=lid)]
    )
    first, second = outcomes
    assert isinstance(first, Placement)
    assert isinstance(second, InsufficientStock) and second.data["available"] == 1


class FlakyProvider(TestPaymentProvider):
    """Authorizes, except that the provider times out for one reference."""

    def __init__(self, fail_reference_with: str) -> None:
        super().__init__()
        self.fail_reference_with = fail_reference_with

    async def authorize(self, amount_cents: int, currency: str, reference: str) -> str:
        if reference.endswith(self.fail_reference_with):
            raise TimeoutError("the payment provider did not answer")
        return await super().authorize(amount_cents, currency, reference)


def desk_for(world: World, payments: TestPaymentProvider, on_placed: Any = None) -> OrderDesk:
    st = world.server.state

    async def nothing(_placed: Any) -> None:
        return None

    return OrderDesk(
        st.commerce.transaction, payments, order_answer,
        relayed=False, on_placed=on_placed or nothing,
    )  # fmt: skip


async def test_a_failed_batch_lets_its_payments_go(world: World) -> None:
    product = await world.rest.product(world.owner, price_cents=100, stock=5)
    pid = product["id"]
    buyers = await world.buyers(3)
    provider = FlakyProvider("-unlucky")
    desk = desk_for(world, provider)
    reqs = [request(b, pid, key=f"{i}-unlucky" if i == 1 else None) for i, b in enumerate(buyers)]
    answers = await asyncio.gather(*(desk.place(r) for r in reqs), return_exceptions=True)
    assert all(isinstance(a, TimeoutError) for a in answers), answers
    calls = Counter(call for call, _ref in provider.calls)
    assert calls == Counter({"authorize": 2, "void": 2})  # the two holds were released
    assert (await world.shop.product(pid))["stock"] == 5
    assert await world.shop.board(world.staff) == []
    await desk.close()


async def test_handing_over_to_fulfillment_does_not_hold_up_the_lane(world: World) -> None:
    product = await world.rest.product(world.owner, price_cents=100, stock=5)
    pid = product["id"]
    first, second = await world.buyers(2)
    handed: list[list[int]] = []
    release = asyncio.Event()

    async def slow_queue(placed: Any) -> None:
        handed.append([o.id for o in placed])
        await release.wait()  # Redis hanging, say

    desk = desk_for(world, TestPaymentProvider(), slow_queue)
    one = await asyncio.wait_for(desk.place(request(first, pid)), 10)
    two = await asyncio.wait_for(desk.place(request(second, pid)), 10)  # not stuck behind
    assert handed == [[one.order.id], [two.order.id]]
    closing = asyncio.create_task(desk.close())
    await asyncio.sleep(0)
    assert not closing.done()  # close() waits for the hand-overs
    release.set()
    await asyncio.wait_for(closing, 10)


# ---------------------------------------------------------------- two processes


async def insert_buyers(database_url: str, count: int) -> list[int]:
    """Buyers straight into the shared database (the servers are other processes)."""
    from app.db import Database

    db = Database.from_url(database_url)
    try:
        password_hash = await hash_password("password123")
        rows = [
            {"username": f"racer{i}", "password_hash": password_hash,
             "role": Role.VIEWER.value, "created_at": utcnow()}
            for i in range(count)
        ]  # fmt: skip
        table = User.__table__  # type: ignore[attr-defined]
        async with db.write_engine.begin() as conn:
            found = await conn.execute(insert(table).returning(table.c.id), rows)
            return [int(i) for i in found.scalars().all()]
    finally:
        await db.dispose()


@pytest.mark.slow
async def test_two_processes_race_for_the_last_units(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    shared = with_redis(settings, redis_db(redis_url, 8))
    with processes(shared, tmp_path) as (a, b):
        async with client(a) as http_a, client(b) as http_b:
            account = {"username": "owner", "password": "password123", "role": "creator"}
            owner = (await http_a.post("/api/auth/register", json=account)).json()
            stock = {"title": "Last ones", "price_cents": 500, "stock": 7}
            resp = await http_b.post("/api/products", headers=auth(owner), json=stock)
            pid = resp.json()["product"]["id"]
            signer = TokenSigner(settings.secret_key, 3600)
            buyers: list[Who] = [
                {"user": {"id": uid}, "token": signer.issue(uid)}
                for uid in await insert_buyers(settings.database_url, 40)
            ]
            shops = [AsyncShop(http_a), AsyncShop(http_b)]
            keys = [fresh_key() for _ in buyers]
            # Every buyer once on each process with the same key (a retry that went
            # elsewhere), all at once.
            answers = await asyncio.gather(*(
                shops[(i + j) % 2].order(buyer, pid, key=keys[i])
                for i, buyer in enumerate(buyers) for j in range(2)
            ))  # fmt: skip
            product = (await http_a.get(f"/api/products/{pid}")).json()["product"]
    assert all(r.status_code in {201, 409} for r in answers), [r.text for r in answers]
    orders_by_buyer: dict[int, set[int]] = {}
    for i, resp in enumerate(answers):
        if resp.status_code == 201:
            orders_by_buyer.setdefault(i // 2, set()).add(resp.json()["order"]["id"])
    assert all(len(ids) == 1 for ids in orders_by_buyer.values())  # one order per key
    assert len(orders_by_buyer) == 7  # exactly the stock
    assert product["stock"] == 0
    codes = Counter(r.status_code for r in answers)
    assert codes[201] >= 7 and codes[201] + codes[409] == 80


@contextlib.asynccontextmanager
async def client(proc: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with http_client(proc.url, timeout=60, limits=limits) as http:
        yield http
