"""One order request on its way through a batch (``checkout.placing``): what has been
decided about it so far. Shared by the batch, its stock runs and its records."""

from __future__ import annotations

from dataclasses import dataclass

from checkout.errors import CheckoutError, InsufficientStock
from checkout.models import Product
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
