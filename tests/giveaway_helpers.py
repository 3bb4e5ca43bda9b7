"""Helpers for giveaway tests: start one, end it now, and check a draw the way anyone can
from the published seed and entrants (contract: Giveaways)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from app.db import Database
from checkout.models import Order
from common.times import utcnow
from live import giveaways
from live.models import Giveaway
from tests.ws_helpers import Rest, Who, auth


async def start(
    rest: Rest, who: Who, live_id: int, product_id: int, *, keyword: str | None = None,
    duration_s: int = 600,
) -> Any:  # fmt: skip
    body: dict[str, Any] = {"product_id": product_id, "duration_s": duration_s}
    if keyword is not None:
        body["keyword"] = keyword
    return await rest.http.post(f"/api/lives/{live_id}/giveaways", json=body, headers=auth(who))


async def end_now(db: Database, giveaway_id: int) -> None:
    """Move the giveaway's end to now: the next pass of a clock draws it."""
    async with db.write() as session:
        await session.exec(
            update(Giveaway).where(col(Giveaway.id) == giveaway_id).values(ends_at=utcnow())  # type: ignore[call-overload]
        )


async def settled(db: Database, giveaway_id: int, within: float = 10.0) -> Giveaway:
    """The giveaway once drawn and its prize dealt with (polls the database: the draw and
    settlement run on the servers' own clocks)."""
    async with asyncio.timeout(within):
        while True:
            async with db.read() as session:
                g = await giveaways.get(session, giveaway_id)
            if g.settled_at is not None:
                return g
            await asyncio.sleep(0.05)


def recomputed_winner(body: dict[str, Any]) -> dict[str, Any] | None:
    """The winner a client computes from ``GET /api/giveaways/{id}``: checks the seed
    against the hash published at the start, then the contract's formula."""
    g, entrants = body["giveaway"], body["entrants"]
    assert hashlib.sha256(g["seed"].encode()).hexdigest() == g["seed_hash"]
    if not entrants:
        return None
    ids = ",".join(str(e["id"]) for e in entrants)
    index = int(hashlib.sha256(f"{g['seed']}:{ids}".encode()).hexdigest(), 16) % len(entrants)
    winner: dict[str, Any] = entrants[index]
    return winner


async def prize_orders(db: Database, product_id: int) -> list[Order]:
    async with db.read() as session:
        query = select(Order).where(Order.product_id == product_id, Order.source == "giveaway")
        return list((await session.exec(query)).all())
