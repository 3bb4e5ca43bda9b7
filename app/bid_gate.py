"""What a bid is checked against before it joins its auction's batch, partly kept.

In an auction's last seconds the same bidders bid again and again on one auction:
reading the auction, its live and each bidder's checkout profile for every bid
would be four queries a bid, on the path every bidder takes at once. A process
keeps each auction's live and creator (they never change) and, for ``ttl_s``
seconds, which bidders have a complete checkout profile (only complete ones: a
bidder who just saved a card is seen at once). Whether the bidder moderates the
live comes from the roster of a live this process serves (kept current by control
messages, as for joins), else from the database, so a moderator made a moment ago
cannot bid. A profile changed meanwhile is read again at the settlement, which
passes the unit on if its owner cannot pay. Memory is bounded: entries past their
time are dropped once a map holds ``size`` of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeVar

from app.db import Database
from checkout import profile
from live import auctions, lives
from live.roster import Roster

T = TypeVar("T")


@dataclass(frozen=True)
class AuctionFacts:
    live_id: int
    creator_id: int


class BidGate:
    def __init__(self, ttl_s: float = 5.0, size: int = 50_000) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._auctions: dict[int, tuple[float, AuctionFacts]] = {}
        self._profiles: dict[int, tuple[float, bool]] = {}

    async def facts(self, db: Database, auction_id: int) -> AuctionFacts:
        """The auction's live and its creator (``LiveNotFound`` for an unknown auction)."""
        kept = self._auctions.get(auction_id)
        if kept is not None:
            return kept[1]
        async with db.read() as session:
            auction = await auctions.get(session, auction_id)
            live = await lives.get_live(session, auction.live_id)
        found = AuctionFacts(auction.live_id, live.creator_id)
        self._prune(self._auctions, time.monotonic())
        self._auctions[auction_id] = (float("inf"), found)
        return found

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
        now = time.monotonic()
        kept = self._profiles.get(user_id)
        if kept is not None and kept[0] > now:
            return True
        async with db.read() as session:
            complete = (await profile.read_profile(session, user_id)).complete
        if complete:
            self._prune(self._profiles, now)
            self._profiles[user_id] = (now + self.ttl_s, True)
        return complete

    def _prune(self, entries: dict[int, tuple[float, T]], now: float) -> None:
        if len(entries) < self.size:
            return
        for key in [k for k, (expires, _) in entries.items() if expires <= now]:
            del entries[key]
        while len(entries) >= self.size:  # all still valid: drop the oldest
            del entries[next(iter(entries))]
