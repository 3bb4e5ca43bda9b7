"""Revision 0016 (2026-12-05): replays and scheduled shows — a live's recording and the
time it is announced to start."""

from __future__ import annotations

from app.migrations.columns import add_columns, at, drop_columns, text

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    add_columns("lives", text("recording_url", 2048, null=True), at("scheduled_at", null=True))


def downgrade() -> None:
    drop_columns("lives", "recording_url", "scheduled_at")
