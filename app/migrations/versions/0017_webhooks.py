"""Revision 0017 (2026-12-05): webhooks — creators' endpoints, the deliveries owed to
them (written with the change they report) and every attempt."""

from __future__ import annotations

from alembic import op

from app.migrations.columns import at, integer, table, text

revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    table(
        "webhooks",
        integer("id"),
        integer("creator_id"),
        text("url", 2048),
        text("events", 500),
        text("secret", 64),
        text("status", 16),
        at("failing_since", null=True),
        at("disabled_at", null=True),
        at("created_at"),
        refs={"creator_id": "users.id"},
        indexed=["creator_id"],
    )
    table(
        "webhook_deliveries",
        integer("id"),
        integer("webhook_id"),
        text("event_id", 40),
        text("type", 32),
        text("ordering_key", 40),
        text("body"),
        text("status", 16),
        integer("attempts"),
        at("next_attempt_at"),
        at("locked_until", null=True),
        at("delivered_at", null=True),
        at("created_at"),
        refs={"webhook_id": "webhooks.id"},
        indexed=["event_id"],
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_index(
        "ix_webhook_deliveries_key", "webhook_deliveries", ["webhook_id", "ordering_key", "id"]
    )
    table(
        "webhook_attempts",
        integer("id"),
        integer("delivery_id"),
        at("at"),
        integer("status_code", null=True),
        text("error", 200, null=True),
        text("excerpt", 200, null=True),
        integer("duration_ms"),
        refs={"delivery_id": "webhook_deliveries.id"},
        indexed=["delivery_id"],
    )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_key", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
