"""Response bodies of a live's timeline and replay sales (contract: Replay and
stream-time sync)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from app.fields import RequestBody, Title, Upcoming, Url


class LivePatch(RequestBody):
    """Only the fields sent change; ``title`` cannot be cleared, the others can (null)."""

    title: Title | None = None
    stream_url: Url | None = None
    recording_url: Url | None = None
    scheduled_at: Upcoming | None = None


class TimelineEntry(BaseModel):
    kind: Literal["pin", "auction", "giveaway"]
    id: int | None  # the auction's or giveaway's id; null for a pin
    product: dict[str, Any]  # the product card as shown then
    deal: dict[str, Any] | None  # the pin's flash deal as it started, if any
    offset_ms: int  # from the live's started_at
    end_offset_ms: int | None  # null: still showing
    deal_end_offset_ms: int | None  # when the deal ended (expired, sold out, unpinned)
    deal_end_reason: str | None
    at: str  # ISO 8601 UTC
    ended_at: str | None


class Timeline(BaseModel):
    live_id: int
    status: str
    started_at: str | None
    ended_at: str | None
    recording_url: str | None
    timeline: list[TimelineEntry]


class ReplaySales(BaseModel):
    product_id: int
    orders: int
    units: int
    revenue_cents: int


class ReplayStats(BaseModel):
    """Orders placed from the replay page (``source: "replay"``), apart from the live's."""

    orders: int = 0
    units: int = 0
    revenue_cents: int = 0
    products: list[ReplaySales] = []
