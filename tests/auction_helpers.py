"""Helpers for auction tests over several app instances: sockets read in the background
(``Tap``), two instances on one database and Redis, bidders, and the checks every
auction test ends with (one close, one order, history against the rules)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.accounts import Role, create_user
from app.db import Database
from app.settings import Settings
from app.state import AppState
from app.tokens import TokenSigner
from checkout.models import Order
from common.times import utcnow
from live import auctions
from live.auction_rules import Bidder, Ledger, increment
from live.models import Auction
from tests.live_server import (
    Listening,
    LiveServer,
    ServerProcess,
    process_env,
    serve,
    with_redis,
)
from tests.ws_helpers import Frame, Rest, Who, auth, check_envelope, send, snapshot

WAIT = 10.0


ADDRESS = {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield",
           "postal_code": "12345", "country": "US"}  # fmt: skip


async def with_profile(rest: Rest, who: Who, token: str = "tok_visa") -> Who:
    put = await rest.http.put("/api/me/address", json=ADDRESS, headers=auth(who))
    assert put.status_code == 200, put.text
    card = await rest.http.put("/api/me/payment-method", json={"token": token}, headers=auth(who))
    assert card.status_code == 200, card.text
    return who


async def close_now(state: AppState, auction_id: int) -> None:
    """Move the auction's end to now and run the clock's pass (what it does at ends_at);
    return once it is sold or unsold. The server's own clock may win the close and settle
    it in the background: then this pass has nothing to do, and the wait covers it."""
    async with state.db.write() as session:
        await session.exec(
            update(Auction).where(Auction.id == auction_id).values(ends_at=utcnow())  # type: ignore[arg-type]
        )
    await state.auction_clock.run_once()
    for _ in range(500):  # up to 10 s
        async with state.db.read() as session:
            if (await auctions.get(session, auction_id)).status != "running":
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"auction {auction_id} was not settled within 10 s")


def parse_utc(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Tap:
    """A socket whose frames are read as they come (so the server never finds it slow)
    and kept in ``frames``; ``wait_for`` awaits one matching a predicate."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self.closed = False
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                assert isinstance(raw, str)
                self.frames.append(check_envelope(json.loads(raw)))
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self._changed.set()

    async def wait_for(self, match: Callable[[Frame], bool], within: float = WAIT) -> Frame:
        """The first frame (from the start) matching ``match``; waits for it."""
        seen = 0
        async with asyncio.timeout(within):
            while True:
                for frame in self.frames[seen:]:
                    if match(frame):
                        return frame
                seen = len(self.frames)
                if self.closed:
                    raise AssertionError(f"socket closed ({self.ws.close_code}) before the frame")
                self._changed.clear()
                await self._changed.wait()

    async def wait_type(self, type_: str, within: float = WAIT) -> Frame:
        return await self.wait_for(lambda f: f["type"] == type_, within)

    async def settled(self, within: float = WAIT) -> None:
        """Every frame sent on this socket so far has been handled and answered: the
        server handles a socket's frames in order, so a ping's pong comes after them."""
        before = len(self.frames)
        await send(self.ws, {"type": "ping"})
        async with asyncio.timeout(within):
            while not any(f["type"] == "pong" for f in self.frames[before:]):
                self._changed.clear()
                await self._changed.wait()

    def of_type(self, type_: str) -> list[Frame]:
        return [f for f in self.frames if f["type"] == type_]

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def tapped(
    server: Listening, live_id: int, who: Who | None = None, after: int | None = None
) -> AsyncIterator[Tap]:
    """A socket on ``server``'s live (as ``who``), joined (snapshot read), then tapped;
    resuming ``after`` a seq, what it missed is replayed and tapped with the rest."""
    url = server.ws_url(live_id, token=who["token"] if who else None, after=after)
    async with connect(url, max_queue=None) as ws:
        if after is None:
            await snapshot(ws)
        tap = Tap(ws)
        try:
            yield tap
        finally:
            await tap.stop()


@contextlib.asynccontextmanager
async def two_instances(
    settings: Settings, redis_url: str
) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    """Two app instances (uvicorn in this loop) on one database and one Redis."""
    shared = replace(with_redis(settings, redis_url), presence_interval_s=0.5)
    async with serve(shared) as a, serve(shared) as b:
        yield a, b


@contextlib.asynccontextmanager
async def two_processes(
    settings: Settings, redis_url: str, cwd: Path
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    """Two `livecart serve` processes on one database and one Redis, started side by
    side (each takes seconds to boot)."""
    shared = with_redis(settings, redis_url)
    a, b = (ServerProcess(process_env(shared), cwd) for _ in range(2))
    try:
        await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
        yield a, b
    finally:
        await asyncio.gather(asyncio.to_thread(a.stop), asyncio.to_thread(b.stop))


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The test's database, straight (for what servers in other processes wrote)."""
    db = Database.from_url(settings.database_url)
    try:
        yield db
    finally:
        await db.dispose()


@dataclass
class Stage:
    """A creator's live with a product to auction, reached through ``rest``."""

    rest: Rest
    owner: Who
    live_id: int
    product_id: int

    @classmethod
    async def make(cls, rest: Rest) -> Stage:
        owner = await rest.register("cara", "creator")
        product = await rest.product(owner, title="Vintage lamp", price_cents=5_000, stock=3)
        live = await rest.live(owner, start=True)
        return cls(rest, owner, live["id"], product["id"])

    async def start(self, **terms: Any) -> dict[str, Any]:
        body = {"product_id": self.product_id, "start_cents": 1_000, **terms}
        resp = await self.rest.http.post(
            f"/api/lives/{self.live_id}/auctions", json=body, headers=auth(self.owner)
        )
        assert resp.status_code == 201, resp.text
        auction: dict[str, Any] = resp.json()["auction"]
        return auction

    async def read(self, auction_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The auction and its history."""
        resp = await self.rest.http.get(f"/api/auctions/{auction_id}")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        return body["auction"], body["history"]

    async def event_types(self) -> list[str]:
        return [e["type"] for e in await self.rest.events(self.live_id)]


async def bidders(
    rests: list[Rest], count: int, prefix: str = "b", made_in: tuple[Database, str] | None = None
) -> list[Who]:
    """``count`` bidders with a checkout profile, set up round-robin through ``rests``.
    ``made_in`` (database, secret key): the accounts are made straight in the database
    with this process's cheap password hashing (servers in other processes hash for real)
    and their tokens signed with the servers' key."""

    async def account(rest: Rest, name: str) -> Who:
        if made_in is None:
            return await rest.register(name)
        db, secret = made_in
        async with db.write() as session:
            user = await create_user(session, name, "password123", Role.VIEWER)
        token = TokenSigner(secret, 3600).issue(user.uid)
        return {"user": {"id": user.uid, "username": name}, "token": token}

    async def one(i: int) -> Who:
        rest = rests[i % len(rests)]
        return await with_profile(rest, await account(rest, f"{prefix}{i:02d}"))

    made: list[Who] = []
    for first in range(0, count, 20):  # a few at a time: the machine is shared
        made += await asyncio.gather(*(one(i) for i in range(first, min(count, first + 20))))
    return made


async def bid(rest: Rest, who: Who, auction_id: int, amount: int, top: int | None = None) -> Any:
    body: dict[str, Any] = {"amount_cents": amount}
    if top is not None:
        body["max_cents"] = top
    return await rest.http.post(f"/api/auctions/{auction_id}/bids", json=body, headers=auth(who))


async def auction_orders(db: Database) -> list[Order]:
    """Every order placed for an auction, straight from the database."""
    async with db.read() as session:
        query = select(Order).where(Order.source == "auction").order_by(col(Order.id))
        return list((await session.exec(query)).all())


def replay(
    start: dict[str, Any], history: list[dict[str, Any]], maxima: dict[tuple[int, int], int]
) -> Ledger:
    """The accepted bids replayed through the rules at their server times, with the
    maximums the test sent (keyed by bidder id and amount); each step must give the
    price and leader the server recorded for it."""
    book = Ledger(start["start_cents"], parse_utc(start["ends_at"]), start["extend_s"],
                  start["sudden_death"])  # fmt: skip
    for step, h in enumerate(history):
        who = Bidder(h["bidder"]["id"], h["bidder"]["username"])
        top = maxima[(who.id, h["amount_cents"])]
        done = book.bid(who, h["amount_cents"], top, parse_utc(h["at"]))
        assert (done.price_cents, done.leader.id) == (h["price_cents"], h["leader"]), step
    return book


async def assert_sold_once(
    stage: Stage, db: Database, auction_id: int, winner_id: int
) -> dict[str, Any]:
    """Sold to ``winner_id`` at the final price: one ``auction_ended`` in the live's log,
    one auction order (the winner's, at that price); returns the final auction."""
    final, history = await stage.read(auction_id)
    assert final["status"] == "sold", final
    assert final["winner"]["id"] == winner_id == final["leader"]["id"], final
    assert final["bids"] == len(history)
    assert (await stage.event_types()).count("auction_ended") == 1
    placed = await auction_orders(db)
    assert [(o.id, o.buyer_id, o.unit_price_cents, o.quantity) for o in placed] == [
        (final["order_id"], winner_id, final["price_cents"], 1)
    ]
    return final


# ---- a crowd bidding in waves


@dataclass(frozen=True)
class Planned:
    bidder: int  # index into the bidders
    amount: int
    top: int
    by_frame: bool


def plan(count: int, waves: int, rng: random.Random) -> list[list[Planned]]:
    """``count`` // 2 bidders a wave (both instances, half by frame, each bidder REST and
    frames in turn); amounts ascending over the whole plan, far enough apart that a bid
    processed in the order sent is taken, so every (bidder, amount) names one bid; secret
    maximums up to two increments above the amount."""
    planned, amount = [], 1_000
    for w in range(waves):
        wave = []
        for i in range(count):
            if (i // 2) % 2 != w % 2:
                continue
            top = amount + increment(amount) * rng.randrange(3)
            wave.append(Planned(i, amount, top, by_frame=(i + w // 2) % 2 == 1))
            amount += 4 * increment(amount + 4 * increment(amount))
        planned.append(wave)
    return planned


@dataclass
class Crowd:
    """Bidders on two instances: bidder i talks to instance i % 2 (REST and socket)."""

    rests: list[Rest]
    who: list[Who]
    taps: list[Tap]
    auction_id: int

    async def fire(self, wave: list[Planned]) -> list[asyncio.Task[Any]]:
        """Send a wave: frames at once, REST requests as tasks (returned)."""
        tasks = []
        for p in wave:
            if p.by_frame:
                frame = {"type": "bid", "auction_id": self.auction_id, "amount_cents": p.amount,
                         "max_cents": p.top}  # fmt: skip
                await send(self.taps[p.bidder].ws, frame)
            else:
                rest, who = self.rests[p.bidder % 2], self.who[p.bidder]
                tasks.append(asyncio.create_task(bid(rest, who, self.auction_id, p.amount, p.top)))
        return tasks
