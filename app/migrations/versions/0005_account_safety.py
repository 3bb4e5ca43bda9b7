"""account safety: token versions, disabled accounts, revoked tokens (revision 0005,
created 2026-12-05)"""

from __future__ import annotations

from alembic import op

from app.migrations.columns import add_columns, at, drop_columns, integer, table, text

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    add_columns("users", integer("token_version", zero=True), at("disabled_at", null=True))
    table(
        "revoked_tokens",
        text("token_id", 32),
        integer("user_id"),
        at("expires_at"),
        key=("token_id",),
        refs={"user_id": "users.id"},
        indexed=["expires_at", "user_id"],
    )


def downgrade() -> None:
    op.drop_table("revoked_tokens")
    drop_columns("users", "disabled_at", "token_version")
