"""checkout: orders, history, idempotency, outbox, dead letters, deal claims (revision 0003,
created 2026-11-23)"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.migrations.columns import add_columns, at, drop_columns, integer, keyed, table, text

revision = "0003"
down_revision = "0002"

ORDER_INDEXES = ["buyer_id", "live_id", "pin_id", "product_id", "status"]


def upgrade() -> None:
    table(
        "fulfillment_dead_letters",
        integer("id"),
        integer("order_id", null=True),
        text("entry"),
        text("error", 1000),
        integer("attempts"),
        at("created_at"),
        indexed=["order_id"],
    )
    _orders()
    table(
        "fulfillment_outbox",
        integer("id"),
        integer("order_id"),
        at("created_at"),
        at("relayed_at", null=True),
        at("done_at", null=True),
        integer("attempts"),
        refs={"order_id": "orders.id"},
        unique=("order_id", "uq_outbox_order"),
    )
    op.create_index("ix_outbox_pending", "fulfillment_outbox", ["done_at", "relayed_at"])
    table(
        "idempotency_keys",
        integer("buyer_id"),
        text("key", 255),
        text("request_hash", 64),
        integer("order_id", null=True),
        text("response", null=True),
        at("created_at"),
        key=("buyer_id", "key"),
        refs={"buyer_id": "users.id", "order_id": "orders.id"},
        indexed=["created_at"],
    )
    claimed = {"buyer_id": "users.id", "pin_id": "live_pins.id"}
    keyed("live_deal_claims", ("pin_id", "buyer_id"), integer("quantity"), refs=claimed)
    table(
        "order_events",
        integer("id"),
        integer("order_id"),
        text("status", 20),
        at("at"),
        text("by", 32),
        refs={"order_id": "orders.id"},
        indexed=["order_id"],
    )
    add_columns("products", integer("sold", zero=True))


def _orders() -> None:
    table(
        "orders",
        integer("id"),
        integer("buyer_id"),
        integer("product_id"),
        integer("live_id", null=True),
        integer("pin_id", null=True),
        integer("quantity"),
        integer("unit_price_cents"),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        text("currency", 3),
        text("status", 20),
        text("payment_status", 16),
        text("payment_ref", 64),
        text("shipping"),
        text("carrier", 64, null=True),
        text("tracking_number", 64, null=True),
        text("return_reason", 500, null=True),
        sa.Column("restocked", sa.Boolean(), nullable=False),
        at("created_at"),
        at("updated_at"),
        sa.CheckConstraint("quantity > 0", name="ck_orders_quantity_positive"),
        refs={"buyer_id": "users.id", "product_id": "products.id"},
        indexed=ORDER_INDEXES,
    )


def downgrade() -> None:
    drop_columns("products", "sold")
    op.drop_table("order_events")
    op.drop_table("live_deal_claims")
    op.drop_table("idempotency_keys")
    op.drop_table("fulfillment_outbox")
    op.drop_table("orders")
    op.drop_table("fulfillment_dead_letters")
