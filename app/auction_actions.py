"""Auction actions shared by REST handlers and WebSocket frames: same rules, same errors."""

from __future__ import annotations

import math
from typing import Any

from app.accounts import User
from app.auction_schemas import AuctionIn, BidIn
from app.errors import ApiError
from app.feed import card_for
from app.live_actions import authorize_on_live
from app.permissions import Action
from app.state import AppState
from checkout import catalog
from checkout.errors import InsufficientStock
from checkout.stock import Shelves, lock_showing
from common import keys
from live import auctions, chat
from live.auction_rules import Bidder
from live.auctions import AuctionTerms, BidRequest
from live.pins import Actor

# Bids per second and burst, per bidder per auction (shared by every process through
# Redis): a bidder flooding bids is refused (429) before reaching the auction's batch,
# so the room's bids are not slowed.
BID_RATE = (5.0, 10)


async def start_auction(state_: AppState, user: User | None, live_id: int, body: AuctionIn) -> Any:
    """Hold one unit from stock, start the auction and pin its product, in one transaction."""
    user, _live = await authorize_on_live(state_, user, live_id, Action.MODERATE_LIVE)
    async with state_.db.read() as session:
        product = await catalog.get_product(session, body.product_id)
    terms = AuctionTerms(body.start_cents, body.duration_s, body.extend_s, body.sudden_death)
    async with state_.commerce.transaction() as unit:
        # The lock order of every transaction: lives (in id order), then the product.
        told = await lock_showing(unit.session, unit.deals, body.product_id, live_id)
        view = await auctions.start(
            unit.announcer.batch, live_id, card_for(product), Actor(user.uid, user.username), terms
        )
        shelves = Shelves(unit.session, unit.announcer, told)
        held = await shelves.hold(body.product_id, f"auction:{view['id']}")
        if held is None:
            raise InsufficientStock("no unit left to auction", product_id=body.product_id)
    state_.auction_clock.poke()
    return view


async def place_bid(
    state_: AppState, user: User | None, auction_id: int, body: BidIn, on_live: int | None = None
) -> Any:
    """Checks that need no lock (signed in, the auction on ``on_live`` when given, not
    staff of the live, a checkout profile), then the bid desk: refused bids raise the
    rules' errors."""
    if user is None:
        raise ApiError(401, "authentication_required", "sign in to bid")
    facts = await state_.bid_gate.facts(state_.db, auction_id)
    if on_live is not None and facts.live_id != on_live:
        raise ApiError(404, "not_found", "no such auction on this live")
    served = state_.hub.roster_of(facts.live_id)
    if await state_.bid_gate.is_staff(state_.db, served, facts, user.uid):
        raise ApiError(403, "self_bidding", "the live's creator and moderators cannot bid")
    if not await state_.bid_gate.has_profile(state_.db, user.uid):
        raise ApiError(409, "checkout_profile_required", "save an address and a card to bid")
    state_.bids.refuse_if_too_low(auction_id, body.amount_cents)  # no Redis, no database
    wait = await chat.take_token(state_.hub, keys.bid_bucket(auction_id, user.uid), *BID_RATE)
    if wait > 0:
        raise ApiError(429, "rate_limited", "you are bidding too fast",
                       headers={"Retry-After": str(max(1, math.ceil(wait)))})  # fmt: skip
    request = BidRequest(Bidder(user.uid, user.username), body.amount_cents, body.max_cents)
    answer = await state_.bids.bid(auction_id, request)
    return answer.auction
