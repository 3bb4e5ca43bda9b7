"""Request and response bodies of customer-service tickets (contract: Fulfillment v2)."""

from __future__ import annotations

from pydantic import BaseModel

from app.fields import Message, RequestBody


class TicketIn(RequestBody):
    text: Message


class MessageOut(BaseModel):
    by: str  # the author's username
    staff: bool  # written by staff, not the buyer
    text: str
    at: str


class TicketOut(BaseModel):
    id: int
    order_id: int
    buyer_id: int
    status: str  # "open" | "answered" | "closed"
    messages: list[MessageOut]
    created_at: str
    updated_at: str


class TicketEnvelope(BaseModel):
    ticket: TicketOut


class TicketList(BaseModel):
    tickets: list[TicketOut]
