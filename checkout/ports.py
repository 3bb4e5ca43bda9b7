"""What checkout needs from the outside, as interfaces ``app`` implements.

checkout never imports ``live``: deal pricing and announcements (stock frames,
order frames) reach the live hub through these, wired by ``app``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.orders import EventLike, OrderLike
from checkout.sla import Calendar
from common.deals import DealTerms


class DealDesk(Protocol):
    """Flash deals, owned by the live side. Bound to one ``UnitOfWork``: ``take`` and
    ``sold_out`` write in its transaction; the reads run on the session given (the unit's)."""

    async def live_status(self, session: AsyncSession, live_id: int) -> str | None:
        """The live's status (``scheduled``/``live``/``ended``), None if it does not exist."""
        ...

    async def lives_showing(self, session: AsyncSession, product_id: int) -> list[int]:
        """Lives currently showing ``product_id`` (pinned on a running live)."""
        ...

    async def shown_on(self, session: AsyncSession, live_id: int, product_id: int) -> bool:
        """Whether the live ever pinned ``product_id`` (it is in the live's bag)."""
        ...

    async def lock_lives(self, session: AsyncSession, live_ids: list[int]) -> None:
        """Lock the lives' rows (in id order) before touching their deals or logs."""
        ...

    async def terms(
        self, session: AsyncSession, live_id: int, product_id: int, buyer_ids: list[int]
    ) -> DealTerms:
        """The deal terms for several orders through ``live_id`` (its lock is held)."""
        ...

    async def take(self, live_id: int, pin_id: int, per_buyer: dict[int, int]) -> int:
        """Take deal units for several buyers at once, as decided on ``terms`` read in this
        transaction; returns the units left. Raises ``InsufficientStock``/
        ``DealLimitExceeded`` if the terms changed after all."""
        ...

    async def sold_out(self, pin_id: int) -> None:
        """End the deal with ``sold_out`` (its ``deal_ended`` event goes in the log now)."""
        ...


class Announcer(Protocol):
    """Tells the world what checkout did; bound to one ``UnitOfWork`` and called inside
    it. Stock events commit with it; order frames go out after it commits."""

    async def stock_changed(
        self, product_id: int, stock: int, sold: int, live_ids: list[int]
    ) -> None:
        """The product's stock changed; ``live_ids`` are the lives to tell (already locked)."""
        ...

    async def stock_runs(
        self,
        product_id: int,
        figures: list[tuple[int, int, dict[int, int | None] | None]],
        live_ids: list[int],
    ) -> None:
        """``stock_changed`` for several orders in a row: ``figures`` holds, per order,
        (stock, sold, deal units left per live or None), in order."""
        ...

    def tell(self, user_id: int, type_: str, data: dict[str, Any]) -> None:
        """A private frame for ``user_id``'s sockets, sent after the commit (nothing if it
        rolls back): a waitlisted buyer told they were skipped."""
        ...

    def order_changed(self, order: OrderLike, history: list[EventLike] | None = None) -> None:
        """The order was placed or changed status; delivered to its buyer after commit.

        ``history`` is the order's whole history when the caller has it (a new order):
        then the order is not read back after the commit.
        """
        ...


@dataclass(frozen=True, slots=True)
class SavedMethod:
    """A payment method kept at the provider for off-session charges (one-tap buying).

    ``customer_ref``: the provider's customer (Stripe: ``cus_...``); ``method_ref``: the
    method attached to it (Stripe: ``pm_...``); ``brand``/``last4``: what the buyer is shown.
    Only these references are stored: card numbers never reach livecart.
    """

    customer_ref: str
    method_ref: str
    brand: str
    last4: str


class PaymentProvider(Protocol):
    """Save a method, authorize at placement, capture at shipping, void on cancel, refund
    on refund. docs/operations.md maps each call onto Stripe."""

    async def save_method(self, token: str, customer: str | None, account: str) -> SavedMethod:
        """Attach the method behind ``token`` (made by the provider's own page script) to
        ``customer``, creating the customer for livecart ``account`` when ``customer`` is
        None. Raise InvalidPaymentMethod when the provider refuses the token."""
        ...

    async def authorize(
        self, amount_cents: int, currency: str, reference: str, *,
        method: SavedMethod | None = None,
    ) -> str:  # fmt: skip
        """Reserve the amount; return the provider's payment id. Raise PaymentDeclined.

        ``method``: charge this saved method off-session (the buyer is not there to
        confirm); None: the provider's default for the order (the test provider's)."""
        ...

    async def capture(self, payment_ref: str) -> None: ...

    async def void(self, payment_ref: str) -> None: ...

    async def refund(self, payment_ref: str) -> None: ...


class UnitOfWork(Protocol):
    """One write transaction with its announcer; announcements go out after it commits.

    Leaving the block normally commits; an exception rolls everything back and
    nothing is announced.
    """

    @property
    def session(self) -> AsyncSession: ...

    @property
    def announcer(self) -> Announcer: ...

    @property
    def deals(self) -> DealDesk: ...

    @property
    def calendar(self) -> Calendar:
        """When new orders are due to ship (``checkout.sla``)."""
        ...


Transactions = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
