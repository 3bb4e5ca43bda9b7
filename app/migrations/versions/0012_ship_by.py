"""Revision 0012 (2026-12-05): ship-by dates — when each order is due to ship."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.migrations.columns import add_columns, drop_columns

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    add_columns("orders", sa.Column("ship_by", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_orders_ship_by"), "orders", ["ship_by"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_ship_by"), table_name="orders")
    drop_columns("orders", "ship_by")
