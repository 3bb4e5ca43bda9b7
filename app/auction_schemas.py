"""Request and response bodies of auctions (contract: Auctions)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StrictInt

from app.fields import Cents, Id, RequestBody

MIN_DURATION_S, MAX_DURATION_S = 5, 3600
MAX_EXTEND_S = 600
# Bids are whole cents and at least one cent: a zero or negative bid never meets a
# minimum, so it is refused by validation (422) instead of as too low (409).
BidCents = Annotated[StrictInt, Field(ge=1, le=1_000_000_000)]


class AuctionIn(RequestBody):
    product_id: Id
    start_cents: Annotated[Cents, Field(ge=1)]
    duration_s: Annotated[StrictInt, Field(ge=MIN_DURATION_S, le=MAX_DURATION_S)]
    extend_s: Annotated[StrictInt, Field(ge=0, le=MAX_EXTEND_S)] = 10
    sudden_death: StrictBool = False


class BidIn(RequestBody):
    amount_cents: BidCents
    max_cents: BidCents | None = None


class BidFrameIn(BidIn):
    """The socket's ``{"type": "bid", "auction_id", "amount_cents", "max_cents"?}``."""

    auction_id: Id


class Who(BaseModel):
    id: int
    username: str


class AuctionOut(BaseModel):
    id: int
    live_id: int
    product_id: int
    status: str
    currency: str
    start_cents: int
    price_cents: int
    next_min_cents: int
    leader: Who | None
    bids: int
    ends_at: str
    extend_s: int
    sudden_death: bool
    winner: Who | None
    order_id: int | None


class AuctionEnvelope(BaseModel):
    auction: AuctionOut


class AuctionList(BaseModel):
    auctions: list[AuctionOut]


class BidOut(BaseModel):
    """One accepted bid in an auction's history (maximums are never shown)."""

    bidder: Who
    amount_cents: int
    price_cents: int
    leader: int
    at: str


class Passed(BaseModel):
    """A bidder the unit was offered to who could not pay."""

    id: int
    username: str
    price_cents: int
    reason: str  # the error code: payment_declined, checkout_profile_required


class AuctionHistory(BaseModel):
    auction: AuctionOut
    history: list[BidOut]
    passed: list[Passed]
