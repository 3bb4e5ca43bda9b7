"""Comment-to-buy: the order a claiming chat message makes, through the order desk.

A claim (``live.claims``) is placed like a REST order through the live — deal price,
deal quantity and per-buyer limit included, oversell-proof in the same batches — with
the claimant's saved address and card, ``source: "comment"``, under the Idempotency-Key
``comment:{message id}``: however often one message is handled, it makes one order.
A claim for a sold-out product puts the claimant on its waitlist instead.

Outcomes reach the claimant only: the order's ``order`` frames (to every socket of the
buyer, as for any order), or an ``error`` / ``waitlisted`` frame on the socket that sent
the message. Everyone else sees the chat line and the ``stock`` change.
"""

from __future__ import annotations

from typing import Any

from app.accounts import User
from app.errors import ApiError
from app.schemas import MAX_ORDER_QUANTITY
from app.state import AppState
from checkout import catalog, profile, waitlist
from checkout.errors import InsufficientStock
from checkout.models import OrderSource
from checkout.orders import OrderRequest
from checkout.stock import lock_showing
from live.claims import Claim


def claim_key(message_id: int) -> str:
    """The Idempotency-Key of the order a chat message claims."""
    return f"comment:{message_id}"


async def claim(state: AppState, user: User, made: Claim) -> dict[str, Any] | None:
    """Place the order ``made`` claims. Returns the ``waitlisted`` frame's data when the
    product is sold out and the claimant joined its waitlist; raises what refuses it."""
    if made.product_id is None:
        raise ApiError(409, "nothing_pinned", "nothing is pinned now: no order was placed")
    if not 1 <= made.quantity <= MAX_ORDER_QUANTITY:
        raise ApiError(422, "validation_error", f"claim 1 to {MAX_ORDER_QUANTITY} units",
                       fields={"quantity": f"must be 1 to {MAX_ORDER_QUANTITY}"})  # fmt: skip
    async with state.db.read() as session:
        saved = await profile.read_profile(session, user.uid)
    if saved.address is None or saved.method is None:
        raise ApiError(409, "checkout_profile_required",
                       "save an address and a card to buy by comment")  # fmt: skip
    request = OrderRequest(
        buyer_id=user.uid, buyer_name=user.username, idempotency_key=claim_key(made.message_id),
        product_id=made.product_id, quantity=made.quantity, shipping=saved.address,
        shipping_saved=True, live_id=made.live_id, method=saved.method,
        source=OrderSource.COMMENT.value,
    )  # fmt: skip
    try:
        await state.desk.place(request)
    except InsufficientStock as exc:
        if exc.data.get("available") != 0:
            raise  # some are left, fewer than claimed: claim fewer
        place = await join_waitlist(state, user, made.product_id, made.quantity)
        return None if place is None else {"product_id": place.product_id,
                                           "position": place.position}  # fmt: skip
    return None


async def join_waitlist(
    state: AppState, user: User, product_id: int, quantity: int, *, refuse_in_stock: bool = False
) -> waitlist.Place | None:
    """Put ``user`` on the product's waitlist (or keep their place, with ``quantity``).
    Units in stock once the place is committed are served at once, in order (a restock
    that committed first could not see this place): None when that made this buyer's
    order. ``refuse_in_stock``: 409 ``in_stock`` when ``quantity`` can be bought now
    (what a buyer asking to join is told), and no serving here."""
    if refuse_in_stock:
        async with state.db.read() as session:
            product = await catalog.get_product(session, product_id)
        if product.stock >= quantity:
            raise ApiError(409, "in_stock", f"{product.stock} in stock: buy it instead")
    place = await state.waitlists.join(product_id, user.uid, user.username, quantity)
    if refuse_in_stock:
        return place
    async with state.db.read() as session:
        if (await catalog.get_product(session, product_id)).stock == 0:
            return place
    async with state.commerce.transaction() as unit:
        # The lock order of every transaction: the lives showing it, then the product.
        await lock_showing(unit.session, unit.deals, product_id)
        await waitlist.serve(unit, product_id, state.serving)
        return await waitlist.place_of(unit.session, product_id, user.uid)
