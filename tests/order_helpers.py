"""Shared helpers for the checkout and fulfillment tests (this module holds no tests).

``Shop`` drives the ASGI app through a TestClient; ``AsyncShop`` drives a real
server over HTTP. Both place orders, move them along the status machine and
read back products and orders.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import httpx2 as httpx
from websockets.asyncio.client import ClientConnection

from app.accounts import Role
from tests.http_helpers import Api
from tests.ws_helpers import Frame, Who, auth, next_frame, send

SHIPPING: dict[str, str] = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}
ORDER_KEYS = {
    "id",
    "buyer_id",
    "product_id",
    "live_id",
    "quantity",
    "unit_price_cents",
    "total_cents",
    "currency",
    "status",
    "payment_status",
    "tracking",
    "history",
    "created_at",
}
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")
WAIT_S = 10.0


def fresh_key() -> str:
    return uuid.uuid4().hex


def order_body(
    product_id: Any, quantity: Any = 1, live_id: Any = None, shipping: Any = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_id": product_id,
        "quantity": quantity,
        "shipping": dict(SHIPPING) if shipping is None else shipping,
    }
    if live_id is not None:
        body["live_id"] = live_id
    return body


def error_code(resp: Any, status: int) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text)
    code: str = resp.json()["error"]["code"]
    return code


def check_order(order: dict[str, Any]) -> dict[str, Any]:
    """The contract's order fields are all there, with the right kinds of values."""
    assert set(order) >= ORDER_KEYS, sorted(ORDER_KEYS - set(order))
    assert isinstance(order["id"], int)
    assert ISO_UTC.match(order["created_at"]), order["created_at"]
    assert order["history"], order
    for line in order["history"]:
        assert set(line) == {"status", "at", "by", "note"}, line
        assert ISO_UTC.match(line["at"]), line
    # (That the last line *is* the current status is checked by
    # test_order_race.py::test_an_order_read_is_one_consistent_snapshot.)
    assert order["status"] in statuses(order), order
    assert order["total_cents"] == order["unit_price_cents"] * order["quantity"], order
    return order


def statuses(order: dict[str, Any]) -> list[str]:
    return [line["status"] for line in order["history"]]


# ---- through the ASGI app (TestClient)


class Shop:
    """A creator with a product, a buyer, bystanders of every role, and order actions."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.client = api.client
        self.owner = api.register("owner", "creator")
        self.buyer = api.register("buyer")
        self.other = api.register("other")
        self.rival = api.register("rival", "creator")
        self.staff = api.make_user("staff", Role.STAFF)
        self.admin = api.make_user("admin", Role.ADMIN)
        self.product = api.product(self.owner, title="Mug", price_cents=1299, stock=10)

    @property
    def pid(self) -> int:
        product_id: int = self.product["id"]
        return product_id

    def order(
        self,
        who: Who | None,
        product_id: Any = None,
        quantity: Any = 1,
        *,
        key: str | None = None,
        live_id: Any = None,
        shipping: Any = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        sent = body if body is not None else order_body(
            self.pid if product_id is None else product_id, quantity, live_id, shipping
        )  # fmt: skip
        all_headers = {**self.api.auth(who), "Idempotency-Key": key or fresh_key()}
        all_headers.update(headers or {})
        return self.client.post("/api/orders", json=sent, headers=all_headers)

    def place(self, who: Who | None = None, quantity: int = 1, **kw: Any) -> dict[str, Any]:
        resp = self.order(who or self.buyer, quantity=quantity, **kw)
        assert resp.status_code == 201, resp.text
        order: dict[str, Any] = resp.json()["order"]
        return check_order(order)

    def product_now(self, product_id: int | None = None) -> dict[str, Any]:
        resp = self.client.get(f"/api/products/{product_id or self.pid}")
        assert resp.status_code == 200, resp.text
        product: dict[str, Any] = resp.json()["product"]
        return product

    def stock(self, product_id: int | None = None) -> int:
        stock: int = self.product_now(product_id)["stock"]
        return stock

    def all_orders(self, status: str | None = None) -> list[dict[str, Any]]:
        query = f"?limit=200&status={status}" if status else "?limit=200"
        resp = self.client.get(f"/api/fulfillment/orders{query}", headers=self.api.auth(self.staff))
        assert resp.status_code == 200, resp.text
        found: list[dict[str, Any]] = resp.json()["orders"]
        return found

    def get(self, who: Who | None, order_id: Any) -> Any:
        return self.client.get(f"/api/orders/{order_id}", headers=self.api.auth(who))

    def fetch(self, order_id: int) -> dict[str, Any]:
        resp = self.get(self.staff, order_id)
        assert resp.status_code == 200, resp.text
        order: dict[str, Any] = resp.json()["order"]
        return check_order(order)

    def transition(self, who: Who | None, order_id: Any, to: Any, **kw: Any) -> Any:
        return self.client.post(
            f"/api/fulfillment/orders/{order_id}/transition",
            json={"to": to, **kw},
            headers=self.api.auth(who),
        )

    def move(self, order_id: int, *steps: str) -> dict[str, Any]:
        """Staff moves the order through ``steps`` (shipping gets a carrier and number)."""
        order: dict[str, Any] = {}
        for to in steps:
            extra = {"carrier": "UPS", "tracking_number": "1Z999"} if to == "shipped" else {}
            resp = self.transition(self.staff, order_id, to, **extra)
            assert resp.status_code == 200, (to, resp.text)
            assert set(resp.json()) == {"order"}
            order = check_order(resp.json()["order"])
            assert order["status"] == to
        return order

    def cancel(self, who: Who | None, order_id: Any) -> Any:
        return self.client.post(f"/api/orders/{order_id}/cancel", headers=self.api.auth(who))

    def give_back(self, who: Who | None, order_id: Any, reason: Any = "too small") -> Any:
        body = {} if reason is None else {"reason": reason}
        return self.client.post(
            f"/api/orders/{order_id}/return", json=body, headers=self.api.auth(who)
        )

    def wait_status(self, order_id: int, status: str, within: float = WAIT_S) -> dict[str, Any]:
        """Poll the order (real state, bounded) until it has ``status``."""
        deadline = time.monotonic() + within
        order = self.fetch(order_id)
        while order["status"] != status and time.monotonic() < deadline:
            time.sleep(0.02)
            order = self.fetch(order_id)
        assert order["status"] == status, order
        return order

    def accepted(self, who: Who | None = None, quantity: int = 1, **kw: Any) -> dict[str, Any]:
        """Place an order and wait for the in-process consumer to accept it."""
        order = self.place(who, quantity, **kw)
        return self.wait_status(order["id"], "accepted")

    def live(self, *, start: bool = True) -> dict[str, Any]:
        live = self.api.live(self.owner)
        if start:
            resp = self.client.post(
                f"/api/lives/{live['id']}/start", headers=self.api.auth(self.owner)
            )
            assert resp.status_code == 200, resp.text
        return live

    def pin(self, live_id: int, product_id: int | None = None, **deal: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"product_id": product_id or self.pid}
        if deal:
            body["deal"] = deal
        resp = self.client.post(
            f"/api/lives/{live_id}/pin", json=body, headers=self.api.auth(self.owner)
        )
        assert resp.status_code == 200, resp.text
        pinned: dict[str, Any] = resp.json()["pinned"]
        return pinned


# ---- over a real server (httpx2 + websockets)


class AsyncShop:
    """Order actions over HTTP against any base URL."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def order(
        self,
        who: Who,
        product_id: Any,
        quantity: Any = 1,
        *,
        key: str | None = None,
        live_id: Any = None,
        body: Any = None,
    ) -> httpx.Response:
        sent = body if body is not None else order_body(product_id, quantity, live_id)
        headers = {**auth(who), "Idempotency-Key": key or fresh_key()}
        return await self.http.post("/api/orders", json=sent, headers=headers)

    async def place(self, who: Who, product_id: Any, quantity: int = 1, **kw: Any) -> Frame:
        resp = await self.order(who, product_id, quantity, **kw)
        assert resp.status_code == 201, resp.text
        return check_order(resp.json()["order"])

    async def fetch(self, who: Who, order_id: int) -> dict[str, Any]:
        resp = await self.http.get(f"/api/orders/{order_id}", headers=auth(who))
        assert resp.status_code == 200, resp.text
        return check_order(resp.json()["order"])

    async def product(self, product_id: int) -> dict[str, Any]:
        resp = await self.http.get(f"/api/products/{product_id}")
        assert resp.status_code == 200, resp.text
        product: dict[str, Any] = resp.json()["product"]
        return product

    async def board(self, staff: Who, status: str | None = None) -> list[dict[str, Any]]:
        query = f"?limit=200&status={status}" if status else "?limit=200"
        resp = await self.http.get(f"/api/fulfillment/orders{query}", headers=auth(staff))
        assert resp.status_code == 200, resp.text
        found: list[dict[str, Any]] = resp.json()["orders"]
        return found

    async def transition(self, staff: Who, order_id: int, to: str) -> dict[str, Any]:
        extra = {"carrier": "DHL", "tracking_number": "JD0001"} if to == "shipped" else {}
        resp = await self.http.post(
            f"/api/fulfillment/orders/{order_id}/transition",
            json={"to": to, **extra},
            headers=auth(staff),
        )
        assert resp.status_code == 200, (to, resp.text)
        return check_order(resp.json()["order"])

    async def wait_status(
        self, who: Who, order_ids: list[int], status: str, within: float = WAIT_S
    ) -> list[dict[str, Any]]:
        """Poll the orders (real state, bounded) until every one has ``status``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            found = [await self.fetch(who, i) for i in order_ids]
            if all(o["status"] == status for o in found) or loop.time() > deadline:
                break
            await asyncio.sleep(0.05)
        assert [o["status"] for o in found] == [status] * len(order_ids), [
            (o["id"], o["status"], statuses(o)) for o in found
        ]
        return found


async def frames_until_pong(ws: ClientConnection) -> list[Frame]:
    """Every frame (viewer counts left out) the server queued before answering a ping now."""
    await send(ws, {"type": "ping"})
    got: list[Frame] = []
    for _ in range(10_000):
        frame = await next_frame(ws)
        if frame["type"] == "pong":
            return got
        got.append(frame)
    raise AssertionError("no pong")


async def next_of(ws: ClientConnection, type_: str, seen: list[Frame] | None = None) -> Frame:
    """The next frame of ``type_``; frames of other types read on the way go to ``seen``."""
    for _ in range(10_000):
        frame = await next_frame(ws)
        if frame["type"] == type_:
            return frame
        if seen is not None:
            seen.append(frame)
    raise AssertionError(f"no {type_} frame")
