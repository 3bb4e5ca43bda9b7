"""Request and response bodies of giveaways (contract: Giveaways)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictInt

from app.auction_schemas import Who
from app.fields import Id, Keyword, RequestBody
from app.schemas import PinnedProduct

MIN_DURATION_S, MAX_DURATION_S = 10, 3600


class GiveawayIn(RequestBody):
    product_id: Id
    duration_s: Annotated[StrictInt, Field(ge=MIN_DURATION_S, le=MAX_DURATION_S)]
    keyword: Keyword | None = None  # chatting it enters


class EnterFrameIn(RequestBody):
    """The socket's ``{"type": "enter", "giveaway_id"}``."""

    giveaway_id: Id


class GiveawayOut(BaseModel):
    id: int
    live_id: int
    product_id: int
    product: PinnedProduct
    status: str  # "open" | "drawn"
    ends_at: str
    entries: int
    seed_hash: str
    seed: str | None  # revealed at the draw
    keyword: str | None
    winner: Who | None
    order_id: int | None  # the winner's order, once placed
    unclaimed: str | None  # why no order: "no_entries", or the checkout error's code
    drawn_at: str | None
    entered: bool | None  # whether the signed-in caller entered (None: anonymous)


class GiveawayEnvelope(BaseModel):
    giveaway: GiveawayOut


class GiveawayRead(BaseModel):
    giveaway: GiveawayOut
    entrants: list[Who] | None = None  # once drawn: everyone who entered, in entry order


class GiveawayList(BaseModel):
    giveaways: list[GiveawayOut]
