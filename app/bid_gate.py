"""What a bid is checked against before it joins its auction's batch, partly kept.

In an auction's last seconds the same bidders bid again and again on one auction,
all at once: reading the auction, its live and each bidder's checkout profile for
every bid would be four queries a bid, on the path every bidder takes together. A
process keeps each auction's live and creator (they never change; read once, however
many bids ask at the same moment) and, for ``ttl_s`` seconds, which bidders have a
complete checkout profile (only complete ones, so a bidder who just saved a card is
seen at once; the API has no way to remove one). Bidders not known yet are read
together, in one query for all that wait at that moment. Whether the bidder
moderates the live comes from the roster of a live this process serves (kept current
by control messages, as for joins), else from the database, so a moderator made a
moment ago cannot bid. A profile is read again at the settlement, which passes the
unit on if its owner cannot pay. Memory is bounded: entries past their time are
dropped once a map holds ``size`` of them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database
from checkout import profile
from live import auctions, giveaways, lives
from live.frames import Frame
from live.hub import Hub
from live.roster import Roster

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
_READ_AT_ONCE = 5_000  # profiles per query
_STARTED = '{"type":"auction_started",'  # how an ``auction_started`` broadcast's text starts


@dataclass(frozen=True)
class AuctionFacts:
    live_id: int
    creator_id: int


class BidGate:
    def __init__(self, ttl_s: float = 300.0, size: int = 50_000) -> None:
        self.ttl_s = ttl_s
        self.size = size
        # ("auction" | "giveaway", id) → (expiry, facts)
        self._auctions: dict[tuple[str, int], tuple[float, AuctionFacts]] = {}
        self._loading: dict[tuple[str, int], asyncio.Future[AuctionFacts]] = {}
        self._profiles: dict[int, tuple[float, bool]] = {}
        self._asked: dict[int, asyncio.Future[bool]] = {}  # for the next read
        self._reading: dict[int, asyncio.Future[bool]] = {}  # in the read under way
        self._reader: asyncio.Task[None] | None = None

    async def facts(self, db: Database, auction_id: int) -> AuctionFacts:
        """The auction's live and its creator (``LiveNotFound`` for an unknown auction)."""

        async def load(session: AsyncSession) -> int:
            return (await auctions.get(session, auction_id)).live_id

        return await self._facts(db, ("auction", auction_id), load)

    async def giveaway_facts(self, db: Database, giveaway_id: int) -> AuctionFacts:
        """The giveaway's live and its creator, kept the same way (entries come all at
        once too); ``LiveNotFound`` for an unknown giveaway."""

        async def load(session: AsyncSession) -> int:
            return (await giveaways.get(session, giveaway_id)).live_id

        return await self._facts(db, ("giveaway", giveaway_id), load)

    async def _facts(
        self, db: Database, key: tuple[str, int], live_of: Callable[[AsyncSession], Awaitable[int]]
    ) -> AuctionFacts:
        kept = self._auctions.get(key)
        if kept is not None:
            return kept[1]
        loading = self._loading.get(key)
        if loading is not None:  # another request is reading it: share that read
            return await asyncio.shield(loading)
        future: asyncio.Future[AuctionFacts] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            async with db.read() as session:
                live = await lives.get_live(session, await live_of(session))
            found = AuctionFacts(live.id or 0, live.creator_id)
            self._prune(self._auctions, time.monotonic())
            self._auctions[key] = (float("inf"), found)
            future.set_result(found)
            return found
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a read nobody else waited for logs nothing
            raise
        finally:
            del self._loading[key]

    def warm(self, db: Database, auction_id: int, facts: AuctionFacts, users: set[int]) -> None:
        """An auction started: keep its facts, and read now, together, the profiles of
        ``users`` (the accounts watching it here) that are not known, before they bid."""
        now = time.monotonic()
        self._prune(self._auctions, now)
        self._auctions[("auction", auction_id)] = (float("inf"), facts)
        loop = asyncio.get_running_loop()
        for user_id in users:
            kept = self._profiles.get(user_id)
            if (kept is None or kept[0] <= now) and not (
                user_id in self._asked or user_id in self._reading
            ):
                self._asked[user_id] = loop.create_future()  # nobody waits: the reader fills it
        if self._asked and self._reader is None:
            self._reader = asyncio.create_task(self._read_profiles(db), name="livecart-bid-gate")

    async def is_staff(
        self, db: Database, served: Roster | None, facts: AuctionFacts, user_id: int
    ) -> bool:
        """The live's creator or one of its moderators: from the roster of a live this
        process serves (kept current by control messages), else from the database."""
        if user_id == facts.creator_id:
            return True
        if served is not None:
            return served.is_staff(user_id)
        async with db.read() as session:
            return await lives.is_moderator(session, facts.live_id, user_id)

    async def has_profile(self, db: Database, user_id: int) -> bool:
        """Whether the bidder has saved both an address and a payment method."""
        kept = self._profiles.get(user_id)
        if kept is not None and kept[0] > time.monotonic():
            return True
        asked = self._asked.get(user_id) or self._reading.get(user_id)
        if asked is None:
            asked = self._asked[user_id] = asyncio.get_running_loop().create_future()
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_profiles(db), name="livecart-bid-gate")
        return await asyncio.shield(asked)

    async def _read_profiles(self, db: Database) -> None:
        """Read every bidder asked about so far in one query, until nobody waits."""
        try:
            while self._asked:
                ids = list(self._asked)[:_READ_AT_ONCE]  # bound the query's parameters
                asked = self._reading = {user_id: self._asked.pop(user_id) for user_id in ids}
                try:
                    async with db.read() as session:
                        complete = await profile.with_complete_profiles(session, list(asked))
                except Exception as exc:  # each waiting bid hears why
                    for future in asked.values():
                        future.set_exception(exc)
                        future.exception()
                    continue
                finally:
                    self._reading = {}
                now = time.monotonic()
                self._prune(self._profiles, now)
                for user_id, future in asked.items():
                    if user_id in complete:
                        self._profiles[user_id] = (now + self.ttl_s, True)
                    future.set_result(user_id in complete)
        finally:
            self._reader = None

    def _prune(self, entries: dict[K, tuple[float, T]], now: float) -> None:
        if len(entries) < self.size:
            return
        for key in [k for k, (expires, _) in entries.items() if expires <= now]:
            del entries[key]
        while len(entries) >= self.size:  # all still valid: drop the oldest
            del entries[next(iter(entries))]


def warm_on_start(gate: BidGate, hub: Hub, db: Database) -> Callable[[list[Frame]], None]:
    """A reader of every broadcast (``Fanout.read_along``) that warms ``gate`` when an
    auction starts on a live this process serves: the first bids of a rush, all at
    once, then find what they are checked against already kept."""

    def read(frames: list[Frame]) -> None:
        for frame in frames:
            if not frame.text.startswith(_STARTED):
                continue
            try:
                parsed = json.loads(frame.text)
                live_id, auction_id = int(parsed["live_id"]), int(parsed["data"]["auction"]["id"])
            except (ValueError, KeyError, TypeError):
                continue
            roster = hub.roster_of(live_id)
            if roster is None:
                continue
            users = {
                v.user_id
                for v in hub.viewers(live_id)
                if v.user_id is not None and not roster.is_staff(v.user_id)
            }
            gate.warm(db, auction_id, AuctionFacts(live_id, roster.creator_id), users)

    return read
