"""checkout profile: buyer_profiles (saved address and payment method), orders.source
(revision 0006, created 2026-12-05)"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

from app.migrations.columns import add_columns, at, drop_columns, integer, table, text

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    table(
        "buyer_profiles",
        integer("user_id"),
        text("address", null=True),
        text("customer_ref", 255, null=True),
        text("method_ref", 255, null=True),
        text("card_brand", 32, null=True),
        text("card_last4", 4, null=True),
        at("updated_at"),
        key=("user_id",),
        refs={"user_id": "users.id"},
    )
    # Rows already there are filled by the default; those bought through a live were "live".
    source = sa.Column("source", AutoString(length=16), nullable=False, server_default="direct")
    add_columns("orders", source)
    op.execute("UPDATE orders SET source = 'live' WHERE live_id IS NOT NULL")


def downgrade() -> None:
    drop_columns("orders", "source")
    op.drop_table("buyer_profiles")
