"""live hub: event log, pins, bag (revision 0002, created 2026-11-23)"""

from __future__ import annotations

from alembic import op

from app.migrations.columns import add_columns, at, drop_columns, integer, keyed, table, text

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    live = {"live_id": "lives.id"}
    keyed("live_bag", ("live_id", "product_id"), at("added_at"), refs=live)
    keyed(
        "live_events", ("live_id", "seq"), text("type", 32), text("frame"), at("created_at"),
        refs=live,
    )  # fmt: skip
    table(
        "live_pins",
        integer("id"),
        integer("live_id"),
        integer("product_id"),
        integer("pinned_by"),
        at("pinned_at"),
        at("unpinned_at", null=True),
        text("card"),
        text("pinned_by_name", 32),
        integer("deal_price_cents", null=True),
        integer("deal_quantity", null=True),
        integer("deal_remaining", null=True),
        integer("deal_per_buyer_limit", null=True),
        at("deal_ends_at", null=True),
        text("deal_ended_reason", 16, null=True),
        refs={"live_id": "lives.id", "pinned_by": "users.id"},
        indexed=["deal_ends_at", "live_id", "product_id"],
    )
    add_columns(
        "lives",
        integer("last_seq", zero=True),
        integer("peak_viewers", zero=True),
        integer("pin_id", null=True),
    )


def downgrade() -> None:
    drop_columns("lives", "pin_id", "peak_viewers", "last_seq")
    op.drop_table("live_pins")
    op.drop_table("live_events")
    op.drop_table("live_bag")
