"""Comment-to-buy (contract: Comment-to-buy and waitlists): chatting the pin's keyword
places an order through the order desk. In-process server, real sockets, SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app import claims
from app.accounts import User
from live.claims import Claim
from tests.live_server import LiveServer
from tests.store_helpers import DEAL, Store, chat, open_store, outcome
from tests.ws_helpers import Rest, auth, next_frame, send, until


@pytest.fixture
async def store(rest: Rest, server: LiveServer) -> Store:
    return await open_store(rest, server)


async def test_chatting_the_keyword_buys_at_the_deal_price(store: Store) -> None:
    pinned = await store.pin(deal=DEAL)
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["pinned"]["claim_keyword"] == "SOLD"
    ann = await store.buyer("ann")
    async with store.watching(ann) as ann_ws, store.watching() as other:
        await chat(ann_ws, "Sold 2 please!")
        got = await outcome(ann_ws)
        seen = await until(other, "stock")
    assert got["type"] == "order" and got["seq"] is None
    order = got["data"]["order"]
    assert (order["source"], order["quantity"], order["unit_price_cents"]) == ("comment", 2, 3_000)
    assert order["live_id"] == store.live["id"] and order["buyer_id"] == ann["user"]["id"]
    # The room sees the chat line and the stock, never the order.
    assert [f["type"] for f in seen] == ["chat", "stock"]
    assert seen[0]["data"]["text"] == "Sold 2 please!"
    assert seen[1]["data"]["stock"] == 4
    assert len(await store.orders()) == 1


async def test_a_message_makes_one_order_however_often_it_is_handled(store: Store) -> None:
    await store.pin()
    ann = await store.buyer("ann")
    user = User(id=ann["user"]["id"], username="ann", password_hash="x", role="viewer")
    made = Claim(store.live["id"], store.product["id"], message_id=4242, quantity=1)
    state = store.server.state
    answers = await asyncio.gather(*(claims.claim(state, user, made) for _ in range(3)))
    again = await claims.claim(state, user, made)
    assert answers == [None, None, None] and again is None
    orders = await store.orders()
    assert len(orders) == 1 and orders[0].source == "comment"


async def test_what_is_not_a_claim_stays_chat(store: Store) -> None:
    await store.pin()
    ann = await store.buyer("ann")
    async with store.watching(ann) as ws:
        for text in ("soldier!", "I sold it", "sold2"):
            await chat(ws, text)
            assert (await next_frame(ws))["type"] == "chat"
        await chat(ws, "sold")
        assert (await outcome(ws))["type"] == "order"
    assert len(await store.orders()) == 1


@pytest.mark.parametrize(
    ("text", "code"),
    [("sold 0", "validation_error"), ("sold 3", "deal_limit_exceeded"),
     ("sold 1001", "validation_error")],
)  # fmt: skip
async def test_bad_claims_are_refused_privately(store: Store, text: str, code: str) -> None:
    await store.pin(deal=DEAL)
    ann = await store.buyer("ann")
    async with store.watching(ann) as ws, store.watching() as other:
        await chat(ws, text)
        got = await outcome(ws)
        line = await next_frame(other)
    assert got["type"] == "error" and got["data"]["code"] == code, got
    assert line["type"] == "chat" and line["data"]["text"] == text  # chat as usual
    assert await store.orders() == []


async def test_claims_need_a_profile_a_pin_and_a_voice(store: Store) -> None:
    await store.pin()
    bare = await store.rest.register("bare")
    ann = await store.buyer("ann")
    async with store.watching(bare) as bare_ws, store.watching(ann) as ann_ws:
        await chat(bare_ws, "sold")
        assert (await outcome(bare_ws))["data"]["code"] == "checkout_profile_required"
        mute = await store.rest.http.put(
            f"/api/lives/{store.live['id']}/mutes/ann", json={"duration_s": 60},
            headers=auth(store.owner),
        )  # fmt: skip
        assert mute.status_code == 200, mute.text
        await chat(ann_ws, "sold")
        assert (await outcome(ann_ws))["data"]["code"] == "muted"
        unmute = await store.rest.http.delete(
            f"/api/lives/{store.live['id']}/mutes/ann", headers=auth(store.owner)
        )
        assert unmute.status_code == 204
        await store.rest.unpin(store.owner, store.live["id"])
        await chat(ann_ws, "SOLD")
        assert (await outcome(ann_ws))["data"]["code"] == "nothing_pinned"
    assert await store.orders() == []


async def test_a_pin_without_a_keyword_claims_nothing(store: Store) -> None:
    assert (await store.pin(keyword=None)).status_code == 200
    ann = await store.buyer("ann")
    async with store.watching(ann) as ws:
        await chat(ws, "sold")
        assert (await next_frame(ws))["type"] == "chat"
        await send(ws, {"type": "ping"})
        assert (await next_frame(ws))["type"] == "pong"  # and no order or error before it
    assert await store.orders() == []


@pytest.mark.parametrize("keyword", ["", "SOLD IT", "S0LD", "x" * 21, 5, "sold!"])
async def test_keywords_are_1_to_20_letters(store: Store, keyword: Any) -> None:
    resp = await store.pin(keyword=keyword)
    assert resp.status_code == 422, resp.text
    assert "claim_keyword" in resp.json()["error"]["fields"]
