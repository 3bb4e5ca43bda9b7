"""Revision 0007 (2026-12-05): live auctions — the auctions, each bidder's standing
(public amount, secret maximum) and every accepted bid."""

from __future__ import annotations

from alembic import op

from app.migrations.columns import at, flag, integer, keyed, table, text

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    table(
        "auctions",
        integer("id"),
        integer("live_id"),
        integer("product_id"),
        integer("started_by"),
        text("status", 16),
        text("card"),
        text("currency", 3),
        integer("start_cents"),
        integer("price_cents"),
        integer("bids"),
        integer("extend_s"),
        flag("sudden_death"),
        at("ends_at"),
        integer("leader_id", null=True),
        text("leader_name", 32, null=True),
        at("closed_at", null=True),
        integer("winner_id", null=True),
        text("winner_name", 32, null=True),
        integer("order_id", null=True),
        text("passed"),
        at("created_at"),
        at("ended_at", null=True),
        refs={"live_id": "lives.id", "started_by": "users.id"},
        indexed=["ends_at", "product_id"],
    )
    op.create_index("ix_auctions_live_status", "auctions", ["live_id", "status"])
    keyed(
        "auction_standings",
        ("auction_id", "bidder_id"),
        text("bidder_name", 32),
        integer("amount_cents"),
        integer("max_cents"),
        integer("since"),
        refs={"auction_id": "auctions.id", "bidder_id": "users.id"},
    )
    table(
        "auction_bids",
        integer("id"),
        integer("auction_id"),
        integer("bidder_id"),
        text("bidder_name", 32),
        integer("amount_cents"),
        integer("price_cents"),
        integer("leader_id"),
        at("at"),
        refs={"auction_id": "auctions.id", "bidder_id": "users.id"},
    )
    op.create_index("ix_auction_bids_auction", "auction_bids", ["auction_id", "id"])


def downgrade() -> None:
    op.drop_table("auction_bids")
    op.drop_table("auction_standings")
    op.drop_index("ix_auctions_live_status", table_name="auctions")
    op.drop_table("auctions")
