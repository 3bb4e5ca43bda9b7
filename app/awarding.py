"""What the auction and giveaway clocks share: placing an award's order (a unit already
held for its winner) and putting a unit nobody takes back in stock, waitlist first."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from app.commerce import Commerce
from checkout.awards import Award, place_award
from checkout.desk import OnPlaced
from checkout.ports import PaymentProvider, UnitOfWork
from checkout.stock import Shelves
from checkout.waitlist import Serving, serve
from common.deadlines import DeadlineLoop

Place = Callable[[Award], Awaitable[int]]
"""Places the award's order and returns its id; raises a ``CheckoutError`` (declined,
no checkout profile) when this winner cannot pay or receive it."""


def placer(commerce: Commerce, payments: PaymentProvider, on_placed: OnPlaced, *,
           relayed: bool) -> Place:  # fmt: skip
    """``Place`` through checkout: the order, then fulfillment (``on_placed``) if new."""

    async def place(award: Award) -> int:
        order, new = await place_award(commerce.transaction, payments, award, relayed=relayed)
        if new:
            await on_placed([order])
        return order.id or 0

    return place


class AwardClock(DeadlineLoop):
    """A deadline loop whose due items end with a held unit: awarded (``place``) or
    given back (``give_back``)."""

    log_name = "livecart"

    def __init__(
        self, commerce: Commerce, place: Place, *, poll_s: float = 1.0,
        serving: Serving | None = None,
    ) -> None:  # fmt: skip
        super().__init__(logging.getLogger(self.log_name), poll_s=poll_s)
        self.commerce = commerce
        self.place = place
        self.serving = serving  # a unit given back goes to the waitlist first

    async def give_back(self, unit: UnitOfWork, product_id: int, key: str, told: list[int]) -> None:
        """The unit held for ``key`` (its award's) back in stock where it was held (its
        ``stock`` event to the locked lives ``told``), then to the product's waitlist, in
        ``unit``'s transaction."""
        await Shelves(unit.session, unit.announcer, told).give_back(product_id, key)
        if self.serving is not None:
            await serve(unit, product_id, self.serving)
