"""Revision 0011 (2026-12-05): returns with an RMA — the order's return (RMA code,
reason, note, the condition it came back in)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel.sql.sqltypes import AutoString

from app.migrations.columns import add_columns, drop_columns

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    add_columns("orders", sa.Column("return_info", AutoString(), nullable=True))


def downgrade() -> None:
    drop_columns("orders", "return_info")
