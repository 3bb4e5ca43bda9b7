"""Request and response bodies of waitlists (contract: Comment-to-buy and waitlists)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictInt

from app.fields import RequestBody, UtcTime
from app.schemas import MAX_ORDER_QUANTITY, ActorOut


class WaitlistIn(RequestBody):
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_ORDER_QUANTITY)] = 1


class WaitlistPlace(BaseModel):
    product_id: int
    position: int  # 1: the next unit back is this buyer's
    quantity: int


class WaitlistPlaceEnvelope(BaseModel):
    waitlist: WaitlistPlace


class WaitlistEntryOut(BaseModel):
    position: int
    user: ActorOut
    quantity: int
    joined_at: UtcTime


class WaitlistOut(BaseModel):
    waitlist: list[WaitlistEntryOut]
