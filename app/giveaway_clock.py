"""Draws giveaways on time in every process, and sends the winner the prize.

Each process sleeps until the earliest open giveaway's ``ends_at`` (looking at least
every ``poll_s`` for giveaways started through other processes), then draws what is
due, each in its own transaction (``live.giveaways.draw``: one process draws each,
under the giveaway's row lock; a process that starts after ``ends_at`` draws at its
first pass, so a restart before the draw still draws once). The process that drew a
giveaway settles it: the winner's order at 0 (``source: "giveaway"``, with their saved
address, keyed ``giveaway:{id}`` so a retried placement places once), which
fulfillment ships like any other. With no entries, or a winner who cannot receive it
(no saved profile any more, the card refused), the unit goes back to stock, waitlist
first. A process that stops between the draw and the settlement leaves it drawn and
unsettled: the next pass of any process settles it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.awarding import AwardClock
from checkout.awards import Award
from checkout.errors import CheckoutError
from checkout.models import OrderSource
from checkout.stock import lock_showing
from common.deadlines import sleep_until
from common.times import utcnow
from live import giveaways
from live.giveaways import Due

# A drawn giveaway still unsettled after this long lost the process settling it.
STALE = timedelta(seconds=30)


class GiveawayClock(AwardClock):
    name = "giveaway clock"
    log_name = "livecart.giveaways"

    async def run_once(self) -> float:
        """Draw what is due and settle what is drawn; return how long to sleep."""
        now = utcnow()
        async with self.commerce.publisher.sessions.read() as session:
            deadline = await giveaways.next_deadline(session)
            due = await giveaways.due(session, now) if deadline and deadline <= now else []
            waiting = await giveaways.unsettled(session, now - STALE)
        for one in due:
            if await self.draw(one, now):
                waiting.append(one.id)
        for giveaway_id in dict.fromkeys(waiting):
            await self.settle(giveaway_id)
        return sleep_until(deadline, now, self.poll_s)

    async def draw(self, one: Due, now: datetime) -> bool:
        """Draw one giveaway; True when it has a winner to settle."""
        async with self.commerce.transaction() as unit:
            # Lives (in id order), then the product: the lock order of every transaction.
            told = await lock_showing(unit.session, unit.deals, one.product_id, one.live_id)
            drawn = await giveaways.draw(unit.announcer.batch, one.id, now)
            if drawn is None:
                return False
            if drawn.winner_id is None:  # nobody entered
                await self.give_back(unit, one.product_id, f"giveaway:{one.id}", told)
            return drawn.winner_id is not None

    async def settle(self, giveaway_id: int) -> None:
        """Place the winner's order at 0; if they cannot receive it, put the unit back."""
        async with self.commerce.publisher.sessions.read() as session:
            g = await giveaways.get(session, giveaway_id)
        if g.settled_at is not None or g.winner_id is None or g.winner_name is None:
            return
        award = Award(
            g.winner_id, g.winner_name, g.product_id, g.live_id, 0, g.currency,
            OrderSource.GIVEAWAY.value, f"giveaway:{giveaway_id}",
        )  # fmt: skip
        try:
            order_id = await self.place(award)
        except CheckoutError as exc:
            why = (g.id, g.winner_id, exc.code)
            self.log.info("giveaway %s: winner %s cannot receive it (%s)", *why)
            async with self.commerce.transaction() as unit:
                told = await lock_showing(unit.session, unit.deals, g.product_id, g.live_id)
                if await giveaways.settle(unit.session, giveaway_id, None, exc.code):
                    await self.give_back(unit, g.product_id, f"giveaway:{giveaway_id}", told)
            return
        async with self.commerce.publisher.transaction() as batch:
            await giveaways.settle(batch.session, giveaway_id, order_id)
