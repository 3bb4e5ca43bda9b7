"""Closes auctions on time in every process, and has the winner pay (WIP, issue #13).

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

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from app.commerce import Commerce
from checkout.awards import Award, place_award
from checkout.desk import OnPlaced
from checkout.errors import CheckoutError
from checkout.models import OrderSource
from checkout.ports import PaymentProvider
from checkout.stock import lock_showing, move_and_tell
from checkout.waitlist import Serving, serve
from common.deadlines import DeadlineLoop, sleep_until
from common.times import utcnow
from live import auctions

log = logging.getLogger("livecart.auctions")
# A closed auction still unsettled after this long lost the process settling it.
STALE = timedelta(seconds=30)


Place = Callable[[Award], Awaitable[int]]
"""Places the award's order and returns its id; raises a ``CheckoutError`` (declined,
no checkout profile) when this bidder cannot pay."""


def placer(commerce: Commerce, payments: PaymentProvider, on_placed: OnPlaced, *,
           relayed: bool) -> Place:  # fmt: skip
    """``Place`` through checkout: the order, then fulfillment (``on_placed``) if new."""

    async def place(award: Award) -> int:
        order, new = await place_award(commerce.transaction, payments, award, relayed=relayed)
        if new:
            await on_placed([order])
        return order.id or 0

    return place


class AuctionClock(DeadlineLoop):
    name = "auction clock"

    def __init__(
        self, commerce: Commerce, place: Place, *, poll_s: float = 1.0,
        serving: Serving | None = None,
    ) -> None:  # fmt: skip
        super().__init__(log, poll_s=poll_s)
        self.commerce = commerce
        self.place = place
        self.serving = serving  # an unsold unit goes back to the waitlist first

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
            async with publisher.transaction() as batch:
                await auctions.settle(batch, auction_id, standing.bidder, price, order_id, passed)
            return
        async with self.commerce.transaction() as unit:
            # Lives (in id order), then the product: the lock order of every transaction.
            told = await lock_showing(unit.session, unit.deals, auction.product_id, auction.live_id)
            batch = unit.announcer.batch
            if await auctions.settle(batch, auction_id, None, auction.price_cents, None, passed):
                await move_and_tell(unit.session, unit.announcer, auction.product_id, 1, told)
                if self.serving is not None:
                    await serve(unit, auction.product_id, self.serving)
