"""What clients see of a live: the live object with its pinned card and viewers, the snapshot.

This is where ``live`` (pins, viewers) meets ``checkout`` (fresh product
figures such as stock): neither package reads the other's tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.schemas import LiveOut, PinnedOut
from app.state import AppState
from checkout.models import Product
from live import auctions, chat, giveaways, pins
from live.models import Live, LivePin
from live.pins import ProductCard


def product_card(product: Product) -> dict[str, Any]:
    """The product as a pinned card shows it."""
    return {
        "id": product.id,
        "title": product.title,
        "price_cents": product.price_cents,
        "currency": product.currency,
        "image_url": product.image_url,
        "url": product.url,
        "stock": product.stock,
    }


def card_for(product: Product) -> ProductCard:
    card = product_card(product)
    return ProductCard(id=card["id"], creator_id=product.creator_id, card=card)


async def pinned_views(session: AsyncSession, lives: Sequence[Live]) -> dict[int, dict[str, Any]]:
    """live id → ``{product, deal, by}`` for the lives that have a pin, with fresh product data."""
    pin_ids = [live.pin_id for live in lives if live.pin_id is not None]
    if not pin_ids:
        return {}
    rows = (await session.exec(select(LivePin).where(col(LivePin.id).in_(pin_ids)))).all()
    products = {
        p.id: p
        for p in (
            await session.exec(
                select(Product).where(col(Product.id).in_([r.product_id for r in rows]))
            )
        ).all()
    }
    views: dict[int, dict[str, Any]] = {}
    for row in rows:
        product = products.get(row.product_id)
        views[row.live_id] = pins.pinned_view(row, product_card(product) if product else None)
    return views


async def live_outs(state: AppState, session: AsyncSession, lives: Sequence[Live]) -> list[LiveOut]:
    pinned = await pinned_views(session, lives)
    viewers = await state.hub.viewer_totals([live.id for live in lives if live.id is not None])
    out: list[LiveOut] = []
    for live in lives:
        view = LiveOut.model_validate(live, from_attributes=True)
        if live.id in pinned:
            view.pinned = PinnedOut.model_validate(pinned[live.id])
        view.viewers = viewers.get(live.id or 0, 0)
        out.append(view)
    return out


async def live_out(state: AppState, session: AsyncSession, live: Live) -> LiveOut:
    return (await live_outs(state, session, [live]))[0]


async def snapshot(state: AppState, live_id: int) -> tuple[dict[str, Any], int]:
    """The snapshot frame's data and the seq it reflects.

    Read in one consistent snapshot (the live row with ``last_seq`` and its pin,
    the recent chat): events after ``seq`` are exactly what the snapshot lacks.
    """
    async with state.db.snapshot() as session:
        live = await session.get(Live, live_id)
        if live is None:
            return {"live": None, "pinned": None, "viewers": 0, "recent_chat": [], "seq": 0}, 0
        view = (await live_outs(state, session, [live]))[0]
        recent_chat = await chat.recent(session, live_id)
        running = await auctions.running_on(session, live_id)
        giveaway = await _open_giveaway(session, live_id)
    data = view.model_dump(mode="json")
    return {
        "live": data,
        "pinned": data["pinned"],
        "viewers": data["viewers"],
        "recent_chat": recent_chat,
        "slow_mode": live.slow_mode_s,
        "auction": auctions.auction_view(running) if running is not None else None,
        "giveaway": giveaway,
        "seq": live.last_seq,
    }, live.last_seq


def advance(data: dict[str, Any], type_: str, event: dict[str, Any]) -> dict[str, Any] | None:
    """The snapshot ``data`` after one broadcast event, for the hub's in-memory snapshots
    (``live.hub.Advance``); None for events that need a fresh read (status changes,
    deleted chat, anything unknown). Never changes ``data``: joiners share it."""
    if type_ == "chat":
        return {**data, "recent_chat": [*data["recent_chat"], event][-chat.RECENT :]}
    if type_ == "slow_mode":
        return {**data, "slow_mode": event["seconds"]}
    if type_ == "pinned":
        return _with_pinned(data, event)
    if type_ == "unpinned":
        return _with_pinned(data, None)
    if type_ in _AUCTION_EVENTS:
        return {**data, "auction": _auction_after(data.get("auction"), type_, event)}
    if type_ == "giveaway_started":
        return {**data, "giveaway": event["giveaway"]}
    if type_ == "giveaway_ended":
        return {**data, "giveaway": None}
    if type_ == "giveaway_entries":
        shown = data.get("giveaway")
        if shown is None or shown["id"] != event["giveaway_id"]:
            return data
        return {**data, "giveaway": {**shown, "entries": event["entries"]}}
    if type_ not in ("stock", "deal_ended"):
        return None
    pinned = data["pinned"]
    if pinned is None or pinned["product"]["id"] != event["product_id"]:
        return data  # another product's stock or deal: not on the card
    if type_ == "deal_ended":
        return _with_pinned(data, {**pinned, "deal": None})
    product = {**pinned["product"], "stock": event["stock"]}
    deal = pinned["deal"]
    if deal is not None and event.get("deal_remaining") is not None:
        deal = {**deal, "remaining": event["deal_remaining"]}
    return _with_pinned(data, {**pinned, "product": product, "deal": deal})


_AUCTION_EVENTS = ("auction_started", "bid", "auction_ended")
_BID_FIELDS = ("price_cents", "next_min_cents", "leader", "bids", "ends_at")


def _auction_after(
    running: dict[str, Any] | None, type_: str, event: dict[str, Any]
) -> dict[str, Any] | None:
    """The snapshot's running auction after one of its events (ended: none runs)."""
    if type_ == "auction_started":
        return dict(event["auction"])
    if running is None or running["id"] != event["auction_id"]:
        return running  # not the one on the snapshot
    if type_ == "auction_ended":
        return None
    return {**running, **{k: event[k] for k in _BID_FIELDS}}


async def _open_giveaway(session: AsyncSession, live_id: int) -> dict[str, Any] | None:
    """The live's open giveaway with its entries so far (``entered`` is per viewer: None)."""
    g = await giveaways.open_on(session, live_id)
    if g is None:
        return None
    return giveaways.giveaway_view(g, await giveaways.count_entries(session, g.id or 0))


def _with_pinned(data: dict[str, Any], pinned: dict[str, Any] | None) -> dict[str, Any]:
    return {**data, "pinned": pinned, "live": {**data["live"], "pinned": pinned}}
