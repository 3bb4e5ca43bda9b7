"""Request and response bodies of webhooks (contract: Webhooks)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictStr

from app.fields import RequestBody

EventType = Literal["order.placed", "order.updated", "stock.changed", "auction.ended"]
WebhookUrl = Annotated[StrictStr, Field(min_length=1, max_length=2048,
                                        pattern=r"^https?://[^\s/?#]+[^\s]*$")]  # fmt: skip


class WebhookIn(RequestBody):
    url: WebhookUrl  # http(s) only; in production, no local or private addresses
    events: Annotated[list[EventType], Field(min_length=1, max_length=4)]


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    status: str  # "active" | "disabled" (failed for 24 h; POST .../enable to resume)
    failing_since: str | None = None
    disabled_at: str | None = None
    created_at: str
    secret: str | None = None  # only in the answer that created it


class WebhookEnvelope(BaseModel):
    webhook: WebhookOut


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class AttemptOut(BaseModel):
    at: str
    status_code: int | None  # null: no answer (timeout, refused address, connection)
    error: str | None
    excerpt: str | None  # the answer's first 200 characters
    duration_ms: int


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    type: str
    status: str  # "pending" | "delivered" | "failed"
    attempts: list[AttemptOut]
    next_attempt_at: str | None
    delivered_at: str | None
    created_at: str
    body: str  # the event as POSTed


class DeliveryEnvelope(BaseModel):
    delivery: DeliveryOut


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
