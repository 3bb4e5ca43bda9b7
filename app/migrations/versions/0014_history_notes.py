"""Revision 0014 (2026-12-05): a note on an order's history line — why staff made the
change (a cancel, a refund)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel.sql.sqltypes import AutoString

from app.migrations.columns import add_columns, drop_columns

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    add_columns("order_events", sa.Column("note", AutoString(length=500), nullable=True))


def downgrade() -> None:
    drop_columns("order_events", "note")
