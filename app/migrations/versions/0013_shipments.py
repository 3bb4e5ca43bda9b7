"""Revision 0013 (2026-12-05): shipments — packed orders of one buyer shipped together
under one tracking number."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.migrations.columns import add_columns, at, drop_columns, integer, table, text

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    table(
        "shipments",
        integer("id"),
        text("carrier", 64),
        text("tracking_number", 64),
        text("created_by", 32),
        at("created_at"),
    )
    add_columns("orders", sa.Column("shipment_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_orders_shipment_id"), "orders", ["shipment_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_shipment_id"), table_name="orders")
    drop_columns("orders", "shipment_id")
    op.drop_table("shipments")
