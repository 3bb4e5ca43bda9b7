"""chat and moderation (revision 0004, created 2026-11-23)"""

from __future__ import annotations

from alembic import op

from app.migrations.columns import add_columns, at, drop_columns, integer, keyed, table, text

revision = "0004"
down_revision = "0003"

LIVE_AND_USER = {"live_id": "lives.id", "user_id": "users.id"}


def upgrade() -> None:
    table(
        "chat_messages",
        integer("id"),
        integer("live_id"),
        integer("user_id"),
        text("username", 32),
        text("text", 500),
        at("created_at"),
        at("deleted_at", null=True),
        refs=LIVE_AND_USER,
    )
    op.create_index("ix_chat_live_recent", "chat_messages", ["live_id", "id"])
    keyed("live_bans", ("live_id", "user_id"), at("created_at"), refs=LIVE_AND_USER)
    table(
        "live_blocked_words",
        integer("live_id"),
        text("word", 64),
        key=("live_id", "word"),
        refs={"live_id": "lives.id"},
    )
    keyed("live_mutes", ("live_id", "user_id"), at("until"), refs=LIVE_AND_USER)
    table(
        "moderation_log",
        integer("id"),
        integer("live_id"),
        integer("actor_id"),
        text("actor_name", 32),
        text("action", 32),
        integer("target_id", null=True),
        text("target_name", 32, null=True),
        text("detail"),
        at("at"),
        refs={"actor_id": "users.id", "live_id": "lives.id"},
        indexed=["live_id"],
    )
    add_columns("lives", integer("slow_mode_s", zero=True))


def downgrade() -> None:
    drop_columns("lives", "slow_mode_s")
    op.drop_table("moderation_log")
    op.drop_table("live_mutes")
    op.drop_table("live_blocked_words")
    op.drop_table("live_bans")
    op.drop_table("chat_messages")
