"""Tables of webhooks: a creator's endpoints, the deliveries owed to them (the outbox,
written in the transaction of the change they report) and each delivery's attempts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Index
from sqlmodel import Field, SQLModel

from common.times import utcnow


def _ts(nullable: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class WebhookStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # failed for 24 h: nothing is sent until re-enabled
    DELETED = "deleted"  # removed by its creator (kept: its deliveries name it)


class Webhook(SQLModel, table=True):
    """An endpoint of a creator's own systems, and the events it takes."""

    __tablename__ = "webhooks"

    id: int | None = Field(default=None, primary_key=True)
    creator_id: int = Field(foreign_key="users.id", index=True)
    url: str = Field(max_length=2048)
    events: str = Field(max_length=500)  # space-separated event types
    secret: str = Field(max_length=64)  # signs every delivery; shown once, at creation
    status: str = Field(default=WebhookStatus.ACTIVE.value, max_length=16)
    # Since when every delivery failed (None: the last one succeeded): 24 h disables it.
    failing_since: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    disabled_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due at next_attempt_at
    DELIVERED = "delivered"  # a 2xx answered it
    FAILED = "failed"  # gave up: 24 h of failures, or its endpoint was disabled


class WebhookDelivery(SQLModel, table=True):
    """One event owed to one endpoint; its body (and so its event id) never changes."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_key", "webhook_id", "ordering_key", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: int = Field(foreign_key="webhooks.id")
    event_id: str = Field(max_length=40, index=True)
    type: str = Field(max_length=32)
    # Deliveries with the same key (one order, one product) go out one at a time, in order.
    ordering_key: str = Field(max_length=40)
    body: str  # the JSON POSTed, exactly
    status: str = Field(default=DeliveryStatus.PENDING.value, max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    # A worker sending it holds it until then; after that (the worker died) it is due again.
    locked_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class WebhookAttempt(SQLModel, table=True):
    """One POST of a delivery: what came back (a short excerpt, never the whole body)."""

    __tablename__ = "webhook_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_deliveries.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=200)
    excerpt: str | None = Field(default=None, max_length=200)
    duration_ms: int = Field(default=0)
