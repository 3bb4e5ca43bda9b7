"""Comment-to-buy and waitlist tests' shop: a creator, a product and a running live on an
in-process server, with buyers who saved an address and a card."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select
from websockets.asyncio.client import ClientConnection, connect

from checkout.models import Order
from tests.auction_helpers import with_profile
from tests.live_server import LiveServer
from tests.ws_helpers import Frame, Rest, Who, auth, next_frame, send, snapshot

DEAL = {"price_cents": 3_000, "quantity": 5, "per_buyer_limit": 2, "duration_s": 600}


@dataclass
class Store:
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


async def open_store(rest: Rest, server: LiveServer) -> Store:
    owner = await rest.register("cara", "creator")
    product = await rest.product(owner, title="Lamp", price_cents=5_000, stock=6)
    live = await rest.live(owner, start=True)
    return Store(rest, server, owner, live, product)


async def chat(ws: ClientConnection, text: str) -> None:
    await send(ws, {"type": "chat", "text": text})


async def outcome(ws: ClientConnection, *, among: int = 50, within: float = 5.0) -> Frame:
    """The claimant's answer: its ``order``, ``error`` or ``waitlisted`` frame, among at
    most ``among`` frames (a storm's room sends every chat line and stock change too)."""
    for _ in range(among):
        frame = await next_frame(ws, within)
        if frame["type"] in ("order", "error", "waitlisted"):
            return frame
    raise AssertionError("no answer to the claim")
