"""Comment-to-buy (contract: Comment-to-buy and waitlists): chatting the pin's keyword
places an order through the order desk. In-process server, real sockets, SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import col, select
from websockets.asyncio.client import ClientConnection, connect

from app import claims
from app.accounts import User
from checkout.models import Order
from live.claims import Claim
from tests.auction_helpers import with_profile
from tests.live_server import LiveServer
from tests.ws_helpers import Frame, Rest, Who, auth, next_frame, send, snapshot, until

DEAL = {"price_cents": 3_000, "quantity": 5, "per_buyer_limit": 2, "duration_s": 600}


@dataclass
class Shop:
    rest: Rest
    server: LiveServer
    owner: Who
    live: dict[str, Any]
    product: dict[str, Any]

    async def pin(self, keyword: str | None = "SOLD", deal: dict[str, Any] | None = None) -> Any:
        body: dict[str, Any] = {"product_id": self.product["id"], "claim_keyword": keyword}
        if deal is not None:
            body["deal"] = deal
        return await self.rest.http.post(
            f"/api/lives/{self.live['id']}/pin", json=body, headers=auth(self.owner)
        )

    async def buyer(self, name: str, token: str = "tok_visa") -> Who:
        return await with_profile(self.rest, await self.rest.register(name), token)

    @contextlib.asynccontextmanager
    async def watching(self, who: Who | None = None) -> AsyncIterator[ClientConnection]:
        url = self.server.ws_url(self.live["id"], token=who["token"] if who else None)
        async with connect(url) as ws:
            await snapshot(ws)
            yield ws

    async def orders(self) -> list[Order]:
        async with self.server.state.db.read() as session:
            query = select(Order).where(Order.product_id == self.product["id"])
            return list((await session.exec(query.order_by(col(Order.id)))).all())


@pytest.fixture
async def shop(rest: Rest, server: LiveServer) -> Shop:
    owner = await rest.register("cara", "creator")
    product = await rest.product(owner, title="Lamp", price_cents=5_000, stock=6)
    live = await rest.live(owner, start=True)
    return Shop(rest, server, owner, live, product)


async def chat(ws: ClientConnection, text: str) -> None:
    await send(ws, {"type": "chat", "text": text})


async def outcome(ws: ClientConnection) -> Frame:
    """The claimant's answer: its ``order``, ``error`` or ``waitlisted`` frame."""
    for _ in range(50):
        frame = await next_frame(ws)
        if frame["type"] in ("order", "error", "waitlisted"):
            return frame
    raise AssertionError("no answer to the claim")


async def test_chatting_the_keyword_buys_at_the_deal_price(shop: Shop) -> None:
    pinned = await shop.pin(deal=DEAL)
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["pinned"]["claim_keyword"] == "SOLD"
    ann = await shop.buyer("ann")
    async with shop.watching(ann) as ann_ws, shop.watching() as other:
        await chat(ann_ws, "Sold 2 please!")
        got = await outcome(ann_ws)
        seen = await until(other, "stock")
    assert got["type"] == "order" and got["seq"] is None
    order = got["data"]["order"]
    assert (order["source"], order["quantity"], order["unit_price_cents"]) == ("comment", 2, 3_000)
    assert order["live_id"] == shop.live["id"] and order["buyer_id"] == ann["user"]["id"]
    # The room sees the chat line and the stock, never the order.
    assert [f["type"] for f in seen] == ["chat", "stock"]
    assert seen[0]["data"]["text"] == "Sold 2 please!"
    assert seen[1]["data"]["stock"] == 4
    assert len(await shop.orders()) == 1


async def test_a_message_makes_one_order_however_often_it_is_handled(shop: Shop) -> None:
    await shop.pin()
    ann = await shop.buyer("ann")
    user = User(id=ann["user"]["id"], username="ann", password_hash="x", role="viewer")
    made = Claim(shop.live["id"], shop.product["id"], message_id=4242, quantity=1)
    state = shop.server.state
    answers = await asyncio.gather(*(claims.claim(state, user, made) for _ in range(3)))
    again = await claims.claim(state, user, made)
    assert answers == [None, None, None] and again is None
    orders = await shop.orders()
    assert len(orders) == 1 and orders[0].source == "comment"


async def test_what_is_not_a_claim_stays_chat(shop: Shop) -> None:
    await shop.pin()
    ann = await shop.buyer("ann")
    async with shop.watching(ann) as ws:
        for text in ("soldier!", "I sold it", "sold2"):
            await chat(ws, text)
            assert (await next_frame(ws))["type"] == "chat"
        await chat(ws, "sold")
        assert (await outcome(ws))["type"] == "order"
    assert len(await shop.orders()) == 1


@pytest.mark.parametrize(
    ("text", "code"),
    [("sold 0", "validation_error"), ("sold 3", "deal_limit_exceeded"),
     ("sold 1001", "validation_error")],
)  # fmt: skip
async def test_bad_claims_are_refused_privately(shop: Shop, text: str, code: str) -> None:
    await shop.pin(deal=DEAL)
    ann = await shop.buyer("ann")
    async with shop.watching(ann) as ws, shop.watching() as other:
        await chat(ws, text)
        got = await outcome(ws)
        line = await next_frame(other)
    assert got["type"] == "error" and got["data"]["code"] == code, got
    assert line["type"] == "chat" and line["data"]["text"] == text  # chat as usual
    assert await shop.orders() == []


async def test_claims_need_a_profile_a_pin_and_a_voice(shop: Shop) -> None:
    await shop.pin()
    bare = await shop.rest.register("bare")
    ann = await shop.buyer("ann")
    async with shop.watching(bare) as bare_ws, shop.watching(ann) as ann_ws:
        await chat(bare_ws, "sold")
        assert (await outcome(bare_ws))["data"]["code"] == "checkout_profile_required"
        mute = await shop.rest.http.put(
            f"/api/lives/{shop.live['id']}/mutes/ann", json={"duration_s": 60},
            headers=auth(shop.owner),
        )  # fmt: skip
        assert mute.status_code == 200, mute.text
        await chat(ann_ws, "sold")
        assert (await outcome(ann_ws))["data"]["code"] == "muted"
        unmute = await shop.rest.http.delete(
            f"/api/lives/{shop.live['id']}/mutes/ann", headers=auth(shop.owner)
        )
        assert unmute.status_code == 204
        await shop.rest.unpin(shop.owner, shop.live["id"])
        await chat(ann_ws, "SOLD")
        assert (await outcome(ann_ws))["data"]["code"] == "nothing_pinned"
    assert await shop.orders() == []


async def test_a_pin_without_a_keyword_claims_nothing(shop: Shop) -> None:
    assert (await shop.pin(keyword=None)).status_code == 200
    ann = await shop.buyer("ann")
    async with shop.watching(ann) as ws:
        await chat(ws, "sold")
        assert (await next_frame(ws))["type"] == "chat"
        await send(ws, {"type": "ping"})
        assert (await next_frame(ws))["type"] == "pong"  # and no order or error before it
    assert await shop.orders() == []


@pytest.mark.parametrize("keyword", ["", "SOLD IT", "S0LD", "x" * 21, 5, "sold!"])
async def test_keywords_are_1_to_20_letters(shop: Shop, keyword: Any) -> None:
    resp = await shop.pin(keyword=keyword)
    assert resp.status_code == 422, resp.text
    assert "claim_keyword" in resp.json()["error"]["fields"]
