"""Revision 0009 (2026-12-05): giveaways — one held unit, a committed seed, one entry per
account, drawn once at ``ends_at``."""

from __future__ import annotations

from alembic import op

from app.migrations.columns import at, integer, table, text

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    table(
        "giveaways",
        integer("id"),
        integer("live_id"),
        integer("product_id"),
        integer("started_by"),
        text("card"),
        text("currency", 3),
        text("keyword", 20, null=True),
        text("seed", 64),
        text("seed_hash", 64),
        text("status", 16),
        at("ends_at"),
        integer("entries"),
        integer("winner_id", null=True),
        text("winner_name", 32, null=True),
        at("drawn_at", null=True),
        integer("order_id", null=True),
        text("unclaimed", 64, null=True),
        at("settled_at", null=True),
        at("created_at"),
        refs={"live_id": "lives.id", "started_by": "users.id"},
        indexed=["ends_at", "product_id"],
    )
    op.create_index("ix_giveaways_live_status", "giveaways", ["live_id", "status"])
    table(
        "giveaway_entries",
        integer("id"),
        integer("giveaway_id"),
        integer("user_id"),
        text("username", 32),
        at("at"),
        refs={"giveaway_id": "giveaways.id", "user_id": "users.id"},
    )
    op.create_index(
        "ux_giveaway_entries_user", "giveaway_entries", ["giveaway_id", "user_id"], unique=True
    )
    op.create_index("ix_giveaway_entries_order", "giveaway_entries", ["giveaway_id", "id"])


def downgrade() -> None:
    op.drop_table("giveaway_entries")
    op.drop_index("ix_giveaways_live_status", table_name="giveaways")
    op.drop_table("giveaways")
