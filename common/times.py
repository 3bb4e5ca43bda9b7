"""Time in UTC, one way everywhere: what is stored, compared and shown to clients."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """``value`` aware and in UTC. A naive value is read as UTC: SQLite hands back
    naive datetimes for what was stored as UTC; PostgreSQL hands back aware ones."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    """``value`` as clients see times: ISO 8601 in UTC ending in ``Z``
    (``2026-01-02T03:04:05.678901Z``); a naive value is read as UTC."""
    return utc(value).isoformat().replace("+00:00", "Z")
