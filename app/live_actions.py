"""Actions on a live shared by REST handlers and WebSocket frames: same rules, same errors."""

from __future__ import annotations

from typing import Any

from app.accounts import User
from app.errors import ApiError
from app.feed import card_for
from app.permissions import Action, Facts, authorize
from app.schemas import PinIn
from app.state import AppState
from checkout import catalog
from live import lives, pins
from live.models import Live
from live.pins import Actor, DealRequest


async def live_facts(state: AppState, live: Live, user: User | None) -> Facts:
    """Ownership and moderatorship of ``user`` on ``live``, for ``authorize``."""
    is_mod = False
    if user is not None and live.id is not None and user.id != live.creator_id:
        async with state.db.read() as session:
            is_mod = await lives.is_moderator(session, live.id, user.uid)
    return Facts(owner_id=live.creator_id, is_moderator=is_mod)


async def authorize_on_live(
    state: AppState, user: User | None, live_id: int, action: Action
) -> tuple[User, Live]:
    """Load the live (404) and check ``user`` may perform ``action`` on it (401/403)."""
    async with state.db.read() as session:
        live = await lives.get_live(session, live_id)
    facts = await live_facts(state, live, user) if user else Facts()
    return authorize(user, action, facts), live


async def pin_product(
    state: AppState, user: User | None, live_id: int, body: PinIn
) -> dict[str, Any]:
    """Pin a product (creator or moderator), optionally with a flash deal."""
    user, _live = await authorize_on_live(state, user, live_id, Action.MODERATE_LIVE)
    async with state.db.read() as session:
        product = await catalog.get_product(session, body.product_id)
    deal = None
    if body.deal is not None:
        fields: dict[str, str] = {}
        if body.deal.price_cents > product.price_cents:
            fields["deal.price_cents"] = "must not be above the product's price"
        limit = body.deal.per_buyer_limit
        if limit is not None and limit > body.deal.quantity:
            fields["deal.per_buyer_limit"] = "must not be above the deal's quantity"
        if fields:
            raise ApiError(422, "validation_error", "the deal is not valid", fields=fields)
        deal = DealRequest(
            price_cents=body.deal.price_cents,
            quantity=body.deal.quantity,
            duration_s=body.deal.duration_s,
            per_buyer_limit=limit,
        )
    async with state.hub.transaction() as batch:
        pinned = await pins.pin(
            batch, live_id, card_for(product), Actor(user.uid, user.username), deal,
            claim_keyword=body.claim_keyword,
        )  # fmt: skip
    if deal is not None:
        state.deals.poke()
    return pinned


async def unpin_product(state: AppState, user: User | None, live_id: int) -> bool:
    await authorize_on_live(state, user, live_id, Action.MODERATE_LIVE)
    async with state.hub.transaction() as batch:
        return await pins.unpin(batch, live_id)
