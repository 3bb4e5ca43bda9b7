"""Giveaway actions shared by REST handlers and WebSocket frames: same rules, same errors.

An entry is checked without the database where it can be (the giveaway's live and
creator are kept per process, the live's staff come from its roster, complete checkout
profiles are kept a while: ``app.bid_gate``), then joins the giveaway's entry batch
(``live.giveaways.EntryDesk``), which refuses it once the giveaway is drawn or its time
is up. Ten thousand viewers entering in the same second are a few transactions.
"""

from __future__ import annotations

from typing import Any

from app.accounts import User
from app.errors import ApiError
from app.feed import card_for
from app.giveaway_schemas import GiveawayIn
from app.live_actions import authorize_on_live
from app.permissions import Action
from app.state import AppState
from checkout import catalog
from checkout.errors import InsufficientStock
from checkout.stock import Shelves, lock_showing
from live import giveaways
from live.pins import Actor


async def start_giveaway(
    state_: AppState, user: User | None, live_id: int, body: GiveawayIn
) -> dict[str, Any]:
    """Hold one unit from stock and start the giveaway, in one transaction."""
    user, _live = await authorize_on_live(state_, user, live_id, Action.MODERATE_LIVE)
    async with state_.db.read() as session:
        product = await catalog.get_product(session, body.product_id)
    async with state_.commerce.transaction() as unit:
        # The lock order of every transaction: lives (in id order), then the product.
        told = await lock_showing(unit.session, unit.deals, body.product_id, live_id)
        row = await giveaways.start(
            unit.announcer.batch, live_id, card_for(product), Actor(user.uid, user.username),
            body.duration_s, body.keyword,
        )  # fmt: skip
        shelves = Shelves(unit.session, unit.announcer, told)
        held = await shelves.hold(body.product_id, f"giveaway:{row.id}")
        if held is None:
            raise InsufficientStock("no unit left to give away", product_id=body.product_id)
    state_.giveaway_clock.poke()
    return giveaways.giveaway_view(row, 0, entered=False)


async def enter(
    state_: AppState, user: User | None, giveaway_id: int, *, on_live: int | None = None
) -> int:
    """Enter ``user``; returns the number of entries once theirs is in. ``on_live``: the
    live of the socket asking (it watches by definition); else (REST) the account must
    have a socket on the giveaway's live in some process."""
    if user is None:
        raise ApiError(401, "authentication_required", "sign in to enter")
    facts = await state_.bid_gate.giveaway_facts(state_.db, giveaway_id)
    if on_live is not None and facts.live_id != on_live:
        raise ApiError(404, "not_found", "no such giveaway on this live")
    served = state_.hub.roster_of(facts.live_id)
    if await state_.bid_gate.is_staff(state_.db, served, facts, user.uid):
        raise ApiError(403, "staff_cannot_enter",
                       "the live's creator and moderators cannot enter its giveaways")  # fmt: skip
    if on_live is None and not await state_.hub.is_watching(facts.live_id, user.uid):
        raise ApiError(403, "not_watching", "only viewers watching the live can enter: open it")
    if not await state_.bid_gate.has_profile(state_.db, user.uid):
        raise ApiError(409, "checkout_profile_required",
                       "save an address and a card to enter: the prize ships to you")  # fmt: skip
    return await state_.entries.enter(giveaway_id, Actor(user.uid, user.username))
