"""Revision 0008 (2026-12-05): comment-to-buy (a pin's claim keyword) and waitlists for
sold-out products."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

from app.migrations.columns import add_columns, at, drop_columns, integer, table, text

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    add_columns("live_pins", sa.Column("claim_keyword", AutoString(length=20), nullable=True))
    table(
        "waitlist_entries",
        integer("id"),
        integer("product_id"),
        integer("user_id"),
        text("username", 32),
        integer("quantity"),
        text("status", 16),
        integer("order_id", null=True),
        text("reason", 64, null=True),
        at("created_at"),
        at("ended_at", null=True),
        sa.CheckConstraint("quantity > 0", name="ck_waitlist_entries_quantity_positive"),
        refs={"product_id": "products.id", "user_id": "users.id"},
        indexed=["user_id"],
    )
    op.create_index(
        "ix_waitlist_entries_product_status", "waitlist_entries", ["product_id", "status", "id"]
    )
    waiting = sa.text("status = 'waiting'")
    op.create_index(
        "ux_waitlist_entries_waiting", "waitlist_entries", ["product_id", "user_id"],
        unique=True, sqlite_where=waiting, postgresql_where=waiting,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("waitlist_entries")
    drop_columns("live_pins", "claim_keyword")
