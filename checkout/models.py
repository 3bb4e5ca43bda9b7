"""Tables of the checkout package."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from common.times import utcnow


class Product(SQLModel, table=True):
    __tablename__ = "products"
    # The last line of defence: whatever the code does, stock never goes negative.
    __table_args__ = (CheckConstraint("stock >= 0", name="ck_products_stock_nonnegative"),)

    id: int | None = Field(default=None, primary_key=True)
    creator_id: int = Field(foreign_key="users.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=5000)
    price_cents: int
    currency: str = Field(default="USD", max_length=3)
    stock: int = Field(default=0)
    # Units sold, net of cancellations and returns (shown in ``stock`` frames).
    sold: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    image_url: str | None = Field(default=None, max_length=2048)
    url: str | None = Field(default=None, max_length=2048)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


def _ts(nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


class OrderStatus(StrEnum):
    PLACED = "placed"
    ACCEPTED = "accepted"
    PICKING = "picking"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    RETURN_REQUESTED = "return_requested"
    RETURNED = "returned"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


class PaymentStatus(StrEnum):
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    REFUNDED = "refunded"
    VOIDED = "voided"


class OrderSource(StrEnum):
    DIRECT = "direct"
    LIVE = "live"
    AUCTION = "auction"
    COMMENT = "comment"
    WAITLIST = "waitlist"
    GIVEAWAY = "giveaway"
    REPLAY = "replay"


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (CheckConstraint("quantity > 0", name="ck_orders_quantity_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    buyer_id: int = Field(foreign_key="users.id", index=True)
    product_id: int = Field(foreign_key="products.id", index=True)
    live_id: int | None = Field(default=None, index=True)
    # The pin showing the product on the order's live when it was placed (deal price or
    # not); None when bought outside a live or while another product was pinned.
    pin_id: int | None = Field(default=None, index=True)
    quantity: int
    unit_price_cents: int
    total_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    status: str = Field(default=OrderStatus.PLACED.value, max_length=20, index=True)
    payment_status: str = Field(default=PaymentStatus.AUTHORIZED.value, max_length=16)
    payment_ref: str = Field(default="", max_length=64)
    shipping: str  # JSON: {name, line1, city, postal_code, country}
    carrier: str | None = Field(default=None, max_length=64)
    tracking_number: str | None = Field(default=None, max_length=64)
    return_reason: str | None = Field(default=None, max_length=500)
    # Due to ship by then (``checkout.sla``): placement + N business days; None for
    # orders placed before ship-by dates existed.
    ship_by: datetime | None = Field(default=None, sa_column=_ts(nullable=True, index=True))
    # The shipment it went out in (one tracking number for several orders of one buyer).
    shipment_id: int | None = Field(default=None, index=True)
    # The return (RMA), JSON {rma, reason, note, condition}: set when it is requested,
    # the condition when it is received.
    return_info: str | None = Field(default=None)
    # Set once when the order gives its units back (cancel or return): restock exactly once.
    restocked: bool = Field(default=False)
    # The warehouse it was allocated to at placement (``checkout.inventory``): it ships
    # from there, its units are counted there.
    warehouse: str = Field(
        default="MAIN", max_length=16, index=True, sa_column_kwargs={"server_default": "MAIN"}
    )
    # How it was bought (``OrderSource``): taken by whatever places the order.
    source: str = Field(
        default="direct", max_length=16, sa_column_kwargs={"server_default": "direct"}
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class OrderEvent(SQLModel, table=True):
    """One line of an order's history: every status it entered, when and by whom."""

    __tablename__ = "order_events"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    status: str = Field(max_length=20)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    by: str = Field(max_length=32)  # a username, or "fulfillment" for the queue
    note: str | None = Field(default=None, max_length=500)  # why (a cancel, a refund)


class IdempotencyRecord(SQLModel, table=True):
    """A successful order request, kept so a retry with the same key gets the same answer."""

    __tablename__ = "idempotency_keys"

    buyer_id: int = Field(foreign_key="users.id", primary_key=True)
    key: str = Field(max_length=255, primary_key=True)
    request_hash: str = Field(max_length=64)
    # Filled in the same transaction that inserts the key: never seen empty by others.
    order_id: int | None = Field(default=None, foreign_key="orders.id")
    response: str | None = None  # the JSON answered the first time
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))


class OutboxEntry(SQLModel, table=True):
    """An order waiting to be taken off the fulfillment queue (committed with the order).

    ``relayed_at``: when it was last put on the Redis stream (None: not yet).
    ``done_at``: when a worker accepted the order; the entry is then finished.
    """

    __tablename__ = "fulfillment_outbox"
    __table_args__ = (
        UniqueConstraint("order_id", name="uq_outbox_order"),
        Index("ix_outbox_pending", "done_at", "relayed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    relayed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    done_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    attempts: int = Field(default=0)


class DeadLetter(SQLModel, table=True):
    """A queue entry that failed too many times; shown to staff."""

    __tablename__ = "fulfillment_dead_letters"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int | None = Field(default=None, index=True)
    entry: str  # the queue entry as received (JSON)
    error: str = Field(max_length=1000)
    attempts: int
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class BuyerProfile(SQLModel, table=True):
    """A buyer's checkout profile: the saved shipping address and payment method.

    Only the provider's references and what the buyer is shown (brand, last 4 digits)
    are kept; the card itself stays with the payment provider.
    """

    __tablename__ = "buyer_profiles"

    user_id: int = Field(
        foreign_key="users.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    address: str | None = None  # JSON: {name, line1, city, postal_code, country}
    customer_ref: str | None = Field(default=None, max_length=255)
    method_ref: str | None = Field(default=None, max_length=255)
    card_brand: str | None = Field(default=None, max_length=32)
    card_last4: str | None = Field(default=None, max_length=4)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class WaitStatus(StrEnum):
    WAITING = "waiting"
    SERVED = "served"  # a unit came back and became this buyer's order
    LEFT = "left"  # the buyer left the list
    SKIPPED = "skipped"  # its turn came and the payment was declined


class WaitlistEntry(SQLModel, table=True):
    """A buyer waiting for a sold-out product; served in ``id`` order."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_waitlist_entries_quantity_positive"),
        Index("ix_waitlist_entries_product_status", "product_id", "status", "id"),
        # One waiting entry per buyer and product (joining again updates it).
        Index("ux_waitlist_entries_waiting", "product_id", "user_id", unique=True,
              sqlite_where=text("status = 'waiting'"),
              postgresql_where=text("status = 'waiting'")),
    )  # fmt: skip

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="products.id")
    user_id: int = Field(foreign_key="users.id", index=True)
    username: str = Field(max_length=32)
    quantity: int
    status: str = Field(default=WaitStatus.WAITING, max_length=16)
    order_id: int | None = None
    reason: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    ended_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class ReturnReason(StrEnum):
    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    CHANGED_MIND = "changed_mind"
    OTHER = "other"


class ReturnCondition(StrEnum):
    """How a returned unit came back: only a resellable one goes back to stock."""

    RESELLABLE = "resellable"
    DAMAGED = "damaged"


class Shipment(SQLModel, table=True):
    """Packed orders of one buyer, to one address, from one warehouse, shipped together
    under one tracking number."""

    __tablename__ = "shipments"

    id: int | None = Field(default=None, primary_key=True)
    carrier: str = Field(max_length=64)
    tracking_number: str = Field(max_length=64)
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class TicketStatus(StrEnum):
    OPEN = "open"  # waiting for staff: opened, or the buyer wrote last
    ANSWERED = "answered"  # staff wrote last
    CLOSED = "closed"


class Ticket(SQLModel, table=True):
    """A support conversation about one order, between its buyer and staff."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_status_updated", "status", "updated_at"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    buyer_id: int = Field(foreign_key="users.id", index=True)
    status: str = Field(default=TicketStatus.OPEN, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class TicketMessage(SQLModel, table=True):
    """One message of a ticket, in ``id`` order."""

    __tablename__ = "ticket_messages"
    __table_args__ = (Index("ix_ticket_messages_ticket", "ticket_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id")
    user_id: int = Field(foreign_key="users.id")
    username: str = Field(max_length=32)
    staff: bool = Field(default=False)  # written by staff (or an admin), not the buyer
    text: str = Field(max_length=2000)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())


MAIN = "MAIN"  # the warehouse that always exists; v1 stock writes go to it


class Warehouse(SQLModel, table=True):
    """A place units are kept and shipped from (admin-managed)."""

    __tablename__ = "warehouses"

    code: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=100)
    country: str = Field(max_length=2)  # ISO 3166-1 alpha-2: ship-by holidays, preference
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Inventory(SQLModel, table=True):
    """A product's units in one warehouse: ``on_hand`` on the shelves, ``allocated`` to
    orders not shipped yet (and units held for an auction or a giveaway). What it can
    still sell is the difference; a product's ``stock`` is the sum over warehouses."""

    __tablename__ = "inventory"
    __table_args__ = (
        CheckConstraint("allocated >= 0 AND allocated <= on_hand",
                        name="ck_inventory_allocated_within_on_hand"),
    )  # fmt: skip

    product_id: int = Field(foreign_key="products.id", primary_key=True,
                            sa_column_kwargs={"autoincrement": False})  # fmt: skip
    warehouse: str = Field(foreign_key="warehouses.code", primary_key=True, max_length=16)
    on_hand: int = Field(default=0)
    allocated: int = Field(default=0)


class Hold(SQLModel, table=True):
    """A unit allocated before it has an order: an auction's or a giveaway's, keyed like
    the award that ends it (``auction:12``). The award's order takes it over; a unit
    nobody takes goes back to its warehouse."""

    __tablename__ = "holds"

    key: str = Field(primary_key=True, max_length=64)
    product_id: int = Field(foreign_key="products.id")
    warehouse: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
