"""What checkout needs from the outside, as interfaces ``app`` implements.

checkout never imports ``live``: deal pricing and announcements (stock frames,
order frames) reach the live hub through these, wired by ``app``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.orders import EventLike, OrderLike


@dataclass(frozen=True)
class DealPrice:
    """The product is pinned on the order's live: the pin, and the deal price if one runs."""

    pin_id: int
    unit_price_cents: int | None


class DealDesk(Protocol):
    """Flash deals, owned by the live side."""

    async def live_status(self, session: AsyncSession, live_id: int) -> str | None:
        """The live's status (``scheduled``/``live``/``ended``), None if it does not exist."""
        ...

    async def lives_showing(self, session: AsyncSession, product_id: int) -> list[int]:
        """Lives currently showing ``product_id`` (pinned on a running live)."""
        ...

    async def lock_lives(self, session: AsyncSession, live_ids: list[int]) -> None:
        """Lock the lives' rows (in id order) before touching their deals or logs."""
        ...

    async def claim(
        self,
        session: AsyncSession,
        *,
        live_id: int,
        product_id: int,
        buyer_id: int,
        quantity: int,
    ) -> DealPrice | None:
        """Take ``quantity`` units from the live's running deal on the product, atomically.

        None when the product is not pinned on the live; no price when no deal
        runs for it (the list price applies). Raises ``InsufficientStock`` when
        the deal has fewer units left and ``DealLimitExceeded`` past the
        per-buyer limit (both from ``checkout.errors``). Ends the deal with
        ``sold_out`` when this claim takes its last unit.
        """
        ...


class Announcer(Protocol):
    """Tells the world what checkout did. Called inside the transaction that did it."""

    async def stock_changed(
        self, session: AsyncSession, product_id: int, stock: int, sold: int, live_ids: list[int]
    ) -> None:
        """The product's stock changed; ``live_ids`` are the lives to tell (already locked)."""
        ...

    def order_changed(self, order: OrderLike, history: list[EventLike] | None = None) -> None:
        """The order was placed or changed status; delivered to its buyer after commit.

        ``history`` is the order's whole history when the caller has it (a new order):
        then the order is not read back after the commit.
        """
        ...


class PaymentProvider(Protocol):
    """Authorize at placement, capture at shipping, void on cancel, refund on refund."""

    async def authorize(self, amount_cents: int, currency: str, reference: str) -> str:
        """Reserve the amount; return the provider's payment id. Raise PaymentDeclined."""
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

    def attempt(self) -> AbstractAsyncContextManager[None]:
        """A savepoint: if the block raises, what it wrote and announced is undone (and
        the exception goes on), while the rest of the transaction stands."""
        ...


Transactions = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
