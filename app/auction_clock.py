"""Closes auctions on time in every process, and has the winner pay.

Each process sleeps until the earliest open auction's ``ends_at`` (looking at least
every ``poll_s`` for auctions started through other processes), then closes what is
due: ``live.auctions.close_due`` is a conditional UPDATE, so one process closes each
auction however many wake for it, and a bid that extended the clock first makes the
close a no-op. The process that closed it settles it: the best bidder's order is
placed with their saved profile (``source: "auction"``, unit price the final price);
if that bidder cannot pay, the next one in line at their own highest bid, and so
on; nobody: ``unsold`` and the held unit goes back to stock. A process that stops
between the close and the settlement leaves the auction closed and running: the
next pass of any process settles it (orders are keyed by auction and bidder, so a
retried placement does not place twice).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.awarding import AwardClock
from app.commerce import CommerceUnit
from checkout.awards import Award
from checkout.errors import CheckoutError
from checkout.models import OrderSource
from checkout.stock import lock_showing
from common.deadlines import sleep_until
from common.times import utcnow
from live import auctions
from live.auction_rules import Bidder
from live.models import Auction

# A closed auction still unsettled after this long lost the process settling it.
STALE = timedelta(seconds=30)


class AuctionClock(AwardClock):
    name = "auction clock"
    log_name = "livecart.auctions"

    async def run_once(self) -> float:
        """Close what is due and settle what is closed; return how long to sleep."""
        publisher = self.commerce.publisher
        now = utcnow()
        async with publisher.sessions.read() as session:
            due = await auctions.next_deadline(session)
            waiting = await auctions.unsettled(session, now - STALE)
        if due is not None and due <= now:
            async with publisher.transaction() as batch:
                waiting += await auctions.close_due(batch, now)
        for auction_id in dict.fromkeys(waiting):
            await self.settle(auction_id)
        return sleep_until(due, now, self.poll_s)

    async def settle(self, auction_id: int) -> None:
        """Walk down the ranking until someone pays; then end the auction sold or unsold."""
        publisher = self.commerce.publisher
        async with publisher.sessions.read() as session:
            auction = await auctions.get(session, auction_id)
            ranking = await auctions.ranking(session, auction_id)
        passed: list[dict[str, Any]] = []
        for place, standing in enumerate(ranking):
            price = auction.price_cents if place == 0 else standing.max_cents
            bidder = standing.bidder
            award = Award(
                bidder.id, bidder.username, auction.product_id, auction.live_id, price,
                auction.currency, OrderSource.AUCTION.value, f"auction:{auction_id}",
            )  # fmt: skip
            try:
                order_id = await self.place(award)
            except CheckoutError as exc:
                passed.append({"id": standing.bidder.id, "username": standing.bidder.username,
                               "price_cents": price, "reason": exc.code})  # fmt: skip
                continue
            async with self.commerce.transaction() as unit:
                batch = unit.announcer.batch
                if await auctions.settle(batch, auction_id, bidder, price, order_id, passed):
                    _tell_shop(unit, auction, "sold", bidder, price, order_id)
            return
        async with self.commerce.transaction() as unit:
            # Lives (in id order), then the product: the lock order of every transaction.
            told = await lock_showing(unit.session, unit.deals, auction.product_id, auction.live_id)
            batch = unit.announcer.batch
            if await auctions.settle(batch, auction_id, None, auction.price_cents, None, passed):
                await self.give_back(unit, auction.product_id, f"auction:{auction_id}", told)
                _tell_shop(unit, auction, "unsold", None, auction.price_cents, None)


def _tell_shop(
    unit: CommerceUnit, auction: Auction, status: str, winner: Bidder | None, price: int,
    order_id: int | None,
) -> None:  # fmt: skip
    """The ``auction.ended`` webhook event, committed with the settlement."""
    if unit.announcer.sink is None:
        return
    winner_view = None if winner is None else {"id": winner.id, "username": winner.username}
    unit.announcer.sink.auction_ended(auction.product_id, auction.id or 0, {
        "auction_id": auction.id, "live_id": auction.live_id, "product_id": auction.product_id,
        "status": status, "winner": winner_view, "price_cents": price,
        "currency": auction.currency, "order_id": order_id,
    })  # fmt: skip
