"""Revision 0010 (2026-12-05): customer service — tickets on orders and their messages."""

from __future__ import annotations

from alembic import op

from app.migrations.columns import at, flag, integer, table, text

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    table(
        "tickets",
        integer("id"),
        integer("order_id"),
        integer("buyer_id"),
        text("status", 16),
        at("created_at"),
        at("updated_at"),
        refs={"order_id": "orders.id", "buyer_id": "users.id"},
        indexed=["buyer_id", "order_id"],
    )
    op.create_index("ix_tickets_status_updated", "tickets", ["status", "updated_at"])
    table(
        "ticket_messages",
        integer("id"),
        integer("ticket_id"),
        integer("user_id"),
        text("username", 32),
        flag("staff"),
        text("text", 2000),
        at("at"),
        refs={"ticket_id": "tickets.id", "user_id": "users.id"},
    )
    op.create_index("ix_ticket_messages_ticket", "ticket_messages", ["ticket_id", "id"])


def downgrade() -> None:
    op.drop_table("ticket_messages")
    op.drop_index("ix_tickets_status_updated", table_name="tickets")
    op.drop_table("tickets")
