"""``/ws/fulfillment`` (contract: Fulfillment v2): staff sockets get an ``order`` frame for
every order change — placed, accepted by the queue, moved by staff, cancelled — so the
board needs no polling; nobody else may open it. In-process server, real sockets,
SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.accounts import Role
from tests.auction_helpers import Tap
from tests.live_server import LiveServer
from tests.order_helpers import fresh_key, order_body
from tests.ws_helpers import Rest, Who, auth, make_user, send


def board_url(server: LiveServer, token: str | None) -> str:
    url = server.url.replace("http://", "ws://") + "/ws/fulfillment"
    return url if token is None else f"{url}?token={token}"


async def closed_with(server: LiveServer, token: str | None) -> int | None:
    async with connect(board_url(server, token)) as ws:
        with contextlib.suppress(ConnectionClosed):
            await ws.recv()
        return ws.close_code


async def test_staff_see_every_order_change(rest: Rest, server: LiveServer) -> None:
    cara = await rest.register("cara", "creator")
    product = await rest.product(cara, title="Lamp", price_cents=5_000, stock=5)
    bob = await rest.register("bob")
    sam = await make_user(server.state, "sam", Role.STAFF)
    async with connect(board_url(server, sam["token"]), subprotocols=["livecart"]) as ws:  # type: ignore[list-item]
        tap = Tap(ws)
        await tap.settled()  # the socket is listening
        order = await _place(rest, bob, product["id"])
        placed = await tap.wait_for(lambda f: _is(f, order["id"], "placed"))
        assert placed["seq"] is None and placed["data"]["order"]["buyer_id"] == bob["user"]["id"]
        await tap.wait_for(lambda f: _is(f, order["id"], "accepted"))  # the queue's move
        moved = await rest.http.post(
            f"/api/fulfillment/orders/{order['id']}/transition", json={"to": "picking"},
            headers=auth(sam),
        )  # fmt: skip
        assert moved.status_code == 200, moved.text
        await tap.wait_for(lambda f: _is(f, order["id"], "picking"))
        await rest.http.post(f"/api/orders/{order['id']}/cancel", headers=auth(bob))
        cancelled = await tap.wait_for(lambda f: _is(f, order["id"], "cancelled"))
        assert [h["status"] for h in cancelled["data"]["order"]["history"]] == [
            "placed", "accepted", "picking", "cancelled"
        ]  # fmt: skip
        await send(ws, {"type": "ping"})
        await tap.wait_type("pong")
        await send(ws, "not json at all")  # ignored; the socket stays
        await tap.settled()
        await tap.stop()


def _is(frame: dict[str, Any], order_id: int, status: str) -> bool:
    if frame["type"] != "order":
        return False
    order = frame["data"]["order"]
    return bool(order["id"] == order_id and order["status"] == status)


async def _place(rest: Rest, who: Who, product_id: int) -> dict[str, Any]:
    resp = await rest.http.post("/api/orders", json=order_body(product_id),
                                headers={**auth(who), "Idempotency-Key": fresh_key()})  # fmt: skip
    assert resp.status_code == 201, resp.text
    order: dict[str, Any] = resp.json()["order"]
    return order


@pytest.mark.parametrize("who", ["anonymous", "forged", "viewer", "creator"])
async def test_only_staff_may_open_the_board(rest: Rest, server: LiveServer, who: str) -> None:
    token = {
        "anonymous": None,
        "forged": "not-a-token",
        "viewer": (await rest.register("vic"))["token"],
        "creator": (await rest.register("cara", "creator"))["token"],
    }[who]
    expected = 4401 if who in ("anonymous", "forged") else 4403
    assert await closed_with(server, token) == expected


async def test_an_admin_may_open_the_board(server: LiveServer) -> None:
    admin = await make_user(server.state, "ada", Role.ADMIN)
    async with connect(board_url(server, admin["token"])) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"
