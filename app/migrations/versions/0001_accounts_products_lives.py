"""accounts, products, lives (revision 0001, created 2026-11-23)"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.migrations.columns import at, integer, keyed, table, text

revision = "0001"
down_revision = None


def upgrade() -> None:
    table(
        "users",
        integer("id"),
        text("username", 32),
        text("password_hash", 255),
        text("role", 16),
        at("created_at"),
    )
    op.create_index(op.f("ix_users_username"), "users", ["username"], unique=True)
    table(
        "lives",
        integer("id"),
        integer("creator_id"),
        text("title", 200),
        text("status", 16),
        text("stream_url", 2048, null=True),
        at("created_at"),
        at("started_at", null=True),
        at("ended_at", null=True),
        refs={"creator_id": "users.id"},
        indexed=["creator_id", "status"],
    )
    table(
        "products",
        integer("id"),
        integer("creator_id"),
        text("title", 200),
        text("description", 5000),
        integer("price_cents"),
        text("currency", 3),
        integer("stock"),
        text("image_url", 2048, null=True),
        text("url", 2048, null=True),
        at("created_at"),
        at("updated_at"),
        sa.CheckConstraint("stock >= 0", name="ck_products_stock_nonnegative"),
        refs={"creator_id": "users.id"},
        indexed=["creator_id"],
    )
    refs = {"live_id": "lives.id", "user_id": "users.id"}
    keyed(
        "live_moderators", ("live_id", "user_id"), at("created_at"), refs=refs, indexed=["user_id"]
    )


def downgrade() -> None:
    op.drop_table("live_moderators")
    op.drop_table("products")
    op.drop_table("lives")
    op.drop_table("users")
