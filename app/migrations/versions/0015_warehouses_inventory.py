"""Revision 0015 (2026-12-05): warehouses, each product's units per warehouse, units held
for auctions and giveaways, and the warehouse each order ships from.

Every product gets its ``MAIN`` row: ``allocated`` is what its unshipped orders took,
``on_hand`` that plus its ``stock``, so what ``MAIN`` can still sell is the stock as it
was. Existing orders ship from ``MAIN``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

from app.migrations.columns import add_columns, at, drop_columns, integer, table, text

revision = "0015"
down_revision = "0014"

_BACKFILL = """
INSERT INTO inventory (product_id, warehouse, on_hand, allocated)
SELECT p.id, 'MAIN', p.stock + COALESCE(o.units, 0), COALESCE(o.units, 0)
FROM products p LEFT JOIN (
    SELECT product_id, SUM(quantity) AS units FROM orders
    WHERE status IN ('placed', 'accepted', 'picking', 'packed') GROUP BY product_id
) o ON o.product_id = p.id
"""


def upgrade() -> None:
    table("warehouses", text("code", 16), text("name", 100), text("country", 2),
          at("created_at"), key=("code",))  # fmt: skip
    table(
        "inventory",
        integer("product_id"),
        text("warehouse", 16),
        integer("on_hand"),
        integer("allocated"),
        sa.CheckConstraint("allocated >= 0 AND allocated <= on_hand",
                           name="ck_inventory_allocated_within_on_hand"),
        refs={"product_id": "products.id", "warehouse": "warehouses.code"},
        key=("product_id", "warehouse"),
    )  # fmt: skip
    table("holds", text("key", 64), integer("product_id"), text("warehouse", 16),
          at("created_at"), refs={"product_id": "products.id"}, key=("key",))  # fmt: skip
    where = sa.Column("warehouse", AutoString(length=16), nullable=False, server_default="MAIN")
    add_columns("orders", where)
    op.create_index(op.f("ix_orders_warehouse"), "orders", ["warehouse"], unique=False)
    op.execute(
        "INSERT INTO warehouses (code, name, country, created_at) "
        "VALUES ('MAIN', 'Main warehouse', 'US', CURRENT_TIMESTAMP)"
    )
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_warehouse"), table_name="orders")
    drop_columns("orders", "warehouse")
    op.drop_table("holds")
    op.drop_table("inventory")
    op.drop_table("warehouses")
