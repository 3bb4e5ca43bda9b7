"""Domain errors of the checkout package. ``CheckoutError`` is the root; each carries a code."""

from __future__ import annotations

from typing import Any


class CheckoutError(Exception):
    """Root of every error raised by ``checkout``. ``code`` is stable and machine-readable."""

    code = "checkout_error"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ProductNotFound(CheckoutError):
    code = "not_found"


class OrderNotFound(CheckoutError):
    code = "not_found"


class InsufficientStock(CheckoutError):
    """Fewer units are left than asked for (the product's stock, or a deal's quantity)."""

    code = "insufficient_stock"


class DealLimitExceeded(CheckoutError):
    """The buyer would go over the deal's per-buyer limit."""

    code = "deal_limit_exceeded"


class IdempotencyMismatch(CheckoutError):
    """The Idempotency-Key was used before with a different request."""

    code = "idempotency_mismatch"


class InvalidTransition(CheckoutError):
    """The order's status does not allow this change."""

    code = "invalid_transition"


class LiveNotOpen(CheckoutError):
    """An order names a live that is not live (scheduled or ended)."""

    code = "invalid_state"


class UnknownLive(CheckoutError):
    code = "unknown_live"


class PaymentDeclined(CheckoutError):
    code = "payment_declined"


class InvalidPaymentMethod(CheckoutError):
    """The payment provider does not accept the token (unknown, expired, malformed)."""

    code = "invalid_payment_method"


class CheckoutProfileRequired(CheckoutError):
    """One-tap buying (bids, comment-to-buy, waitlists, giveaways) needs a saved address
    and payment method."""

    code = "checkout_profile_required"


class TrackingRequired(CheckoutError):
    """Shipping needs a carrier and a tracking number."""

    code = "tracking_required"


class NotShippableTogether(CheckoutError):
    """A shipment's orders must be packed, of one buyer, to one address, from one
    warehouse."""

    code = "not_shippable_together"


class TicketNotFound(CheckoutError):
    code = "not_found"


class TicketClosed(CheckoutError):
    """A message to a closed ticket: open a new one."""

    code = "ticket_closed"


class WarehouseNotFound(CheckoutError):
    code = "unknown_warehouse"


class WarehouseExists(CheckoutError):
    """A warehouse with that code exists already."""

    code = "warehouse_exists"


class BelowAllocated(CheckoutError):
    """``on_hand`` cannot go below the units allocated to orders not shipped yet."""

    code = "below_allocated"


class StockElsewhere(CheckoutError):
    """A v1 ``stock`` write goes to ``MAIN``: it cannot take away units other warehouses
    hold (set those with the inventory endpoint)."""

    code = "stock_elsewhere"


class NotInShow(CheckoutError):
    """A replay order for a product its live never showed."""

    code = "not_in_show"
