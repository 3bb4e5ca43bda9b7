"""One order request on its way through a batch (``checkout.placing``): what has been
decided about it so far. Shared by the batch, its stock runs and its records."""

from __future__ import annotations

from dataclasses import dataclass

from checkout.allocation import Bins
from checkout.errors import CheckoutError, InsufficientStock
from checkout.models import MAIN, Product
from checkout.orders import EventLike, OrderRequest, Placement

Outcome = Placement | CheckoutError


@dataclass(eq=False)  # compared by identity
class Attempt:
    req: OrderRequest
    digest: str
    outcome: Outcome | None = None
    unit_price: int = 0
    currency: str = ""
    pin_id: int | None = None
    payment_ref: str = ""
    history: list[EventLike] | None = None
    deal_left: dict[int, int | None] | None = None  # for its stock frame: live id -> units
    warehouse: str = MAIN  # where it ships from (``checkout.allocation``)
    ships_from: str | None = None  # that warehouse's country, for its ship-by date

    @property
    def country(self) -> str | None:
        """Where it ships to."""
        return self.req.shipping.get("country")

    def place_in(self, bins: Bins) -> bool:
        """Take this order's units from ``bins``; False when no warehouse has them all."""
        code = bins.take(self.req.quantity, self.country)
        if code is None:
            return False
        self.warehouse, self.ships_from = code, bins.country[code]
        return True

    @property
    def pair(self) -> tuple[int, str]:
        return (self.req.buyer_id, self.req.idempotency_key)


@dataclass(frozen=True, slots=True)
class Listing:
    """The product as read at the start of the batch, as plain values: what the batch
    needs of it, without an ORM object that a later statement could expire."""

    product_id: int
    price_cents: int
    currency: str
    stock: int
    sold: int

    @classmethod
    def of(cls, product: Product) -> Listing:
        return cls(product.id or 0, product.price_cents, product.currency, product.stock,
                   product.sold)  # fmt: skip


def short(product_id: int, available: int) -> InsufficientStock:
    return InsufficientStock(f"only {available} left", product_id=product_id, available=available)


def short_of(product_id: int, bins: Bins, quantity: int) -> InsufficientStock:
    """An order of ``quantity`` that no one warehouse can take: fewer units left in all,
    or they are spread over several (``available``: the largest order that fits now)."""
    if quantity > bins.total:
        return short(product_id, bins.total)
    return InsufficientStock(f"at most {bins.most} ship together from one warehouse",
                             product_id=product_id, available=bins.most)  # fmt: skip
