"""Request and response bodies of the fulfillment board (staff)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictStr

from app.fields import Id, Reason, RequestBody, Short, UtcTime


class TransitionIn(RequestBody):
    to: Annotated[StrictStr, Field(max_length=32)]
    carrier: Short | None = None
    tracking_number: Short | None = None
    condition: Literal["resellable", "damaged"] | None = None  # returned: how it came back
    note: Reason | None = None  # why (say, a cancel or a refund): kept in the history


class DeadLetterOut(BaseModel):
    id: int
    order_id: int | None
    entry: dict[str, Any]
    error: str
    attempts: int
    created_at: UtcTime


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterOut]


# ---- chat and moderation


class ShipmentIn(RequestBody):
    order_ids: Annotated[list[Id], Field(min_length=1, max_length=100)]
    carrier: Short
    tracking_number: Short


class ShipmentOut(BaseModel):
    id: int
    order_ids: list[int]
    carrier: str
    tracking_number: str


class ShipmentEnvelope(BaseModel):
    shipment: ShipmentOut
