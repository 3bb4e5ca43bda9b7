"""Waitlists: buyers queued for a sold-out product, served in order as units come back.

An entry is ``waiting`` until its turn comes, then ``served`` (its order placed),
``skipped`` (its payment was declined, or its profile is gone) — or ``left`` by its
buyer. A buyer has at most one waiting entry per product: joining again keeps the
place and takes the new quantity. Joins and serving lock the product's row, so the
positions they see are those of the committed list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy import func, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.errors import CheckoutProfileRequired, ProductNotFound
from checkout.models import OrderSource, Product, WaitlistEntry, WaitStatus
from checkout.orders import OrderRequest, Placement
from checkout.placing import NothingToKeep, Outcome, Render, place_batch
from checkout.ports import Announcer, DealDesk, PaymentProvider, UnitOfWork
from checkout.profile import read_profile
from checkout.sla import DEFAULT, Calendar
from common.lanes import Lanes
from common.sql import upsert_insert
from common.times import utcnow

# Entries one restock serves at most (the rest wait for the next call).
MAX_SERVED = 200


@dataclass(frozen=True)
class Place:
    """A buyer's place on a product's waitlist: ``position`` 1 is served first."""

    product_id: int
    position: int
    quantity: int


async def lock_product(session: AsyncSession, product_id: int) -> Product:
    """The product's row, locked (``FOR UPDATE``; SQLite's writer lock already holds)."""
    query = (
        select(Product)
        .where(Product.id == product_id)
        .with_for_update()
        .execution_options(populate_existing=True)  # as the database has it now
    )
    product = (await session.exec(query)).first()
    if product is None:
        raise ProductNotFound("product not found", product_id=product_id)
    return product


async def _mine(session: AsyncSession, product_id: int, user_id: int) -> WaitlistEntry | None:
    query = select(WaitlistEntry).where(
        WaitlistEntry.product_id == product_id,
        WaitlistEntry.user_id == user_id,
        WaitlistEntry.status == WaitStatus.WAITING,
    )
    return (await session.exec(query)).first()


async def _position(session: AsyncSession, entry: WaitlistEntry) -> int:
    query = select(func.count()).where(
        WaitlistEntry.product_id == entry.product_id,
        WaitlistEntry.status == WaitStatus.WAITING,
        col(WaitlistEntry.id) <= entry.id,
    )
    return int((await session.exec(query)).one())


@dataclass(frozen=True)
class Join:
    user_id: int
    username: str
    quantity: int


async def join_many(session: AsyncSession, product_id: int, joins: list[Join]) -> list[Place]:
    """Queue buyers in this order (one already waiting keeps their place, with the new
    quantity); one place per join. Under the product's lock, so the positions are those
    of the committed list: one statement for all, one read of the list."""
    await lock_product(session, product_id)
    latest = {j.user_id: j for j in joins}  # twice in one batch: the last quantity
    rows = [
        {"product_id": product_id, "user_id": j.user_id, "username": j.username,
         "quantity": j.quantity, "status": WaitStatus.WAITING.value, "created_at": utcnow()}
        for j in latest.values()
    ]  # fmt: skip
    insert = upsert_insert(session)(WaitlistEntry).values(rows)
    await session.exec(
        insert.on_conflict_do_update(
            index_elements=["product_id", "user_id"],
            index_where=text("status = 'waiting'"),  # the index's own predicate, as written
            set_={"quantity": insert.excluded.quantity},
        )
    )
    query = select(WaitlistEntry.user_id, WaitlistEntry.quantity).where(
        WaitlistEntry.product_id == product_id, WaitlistEntry.status == WaitStatus.WAITING
    )
    listed = (await session.exec(query.order_by(col(WaitlistEntry.id)))).all()
    places = {user_id: (i, quantity) for i, (user_id, quantity) in enumerate(listed, 1)}
    return [Place(product_id, *places[j.user_id]) for j in joins]


class WaitlistDesk:
    """Joins of one product's waitlist go together (``common.lanes``): a claim storm on a
    sold-out product is a few transactions, not one each queued on the product's lock."""

    def __init__(self, sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]]) -> None:
        self.sessions = sessions
        self._lanes: Lanes[int, Join, Place] = Lanes(self._batch, max_batch=500, name="waitlist")

    async def join(self, product_id: int, user_id: int, username: str, quantity: int) -> Place:
        return await self._lanes.submit(product_id, Join(user_id, username, quantity))

    async def stop(self) -> None:
        await self._lanes.stop()

    async def _batch(self, product_id: int, joins: list[Join]) -> list[Place]:
        async with self.sessions() as session:
            return await join_many(session, product_id, joins)


async def place_of(session: AsyncSession, product_id: int, user_id: int) -> Place | None:
    entry = await _mine(session, product_id, user_id)
    if entry is None:
        return None
    return Place(product_id, await _position(session, entry), entry.quantity)


async def leave(session: AsyncSession, product_id: int, user_id: int) -> bool:
    """Take the buyer off the list; False when they were not on it."""
    result = await session.exec(
        update(WaitlistEntry)
        .where(col(WaitlistEntry.product_id) == product_id, col(WaitlistEntry.user_id) == user_id,
               col(WaitlistEntry.status) == WaitStatus.WAITING)
        .values(status=WaitStatus.LEFT, ended_at=utcnow())
    )  # fmt: skip
    return bool(result.rowcount)


async def waiting(
    session: AsyncSession, product_id: int, limit: int | None = None
) -> Sequence[WaitlistEntry]:
    """The waiting entries, first served first."""
    query = (
        select(WaitlistEntry)
        .where(WaitlistEntry.product_id == product_id, WaitlistEntry.status == WaitStatus.WAITING)
        .order_by(col(WaitlistEntry.id))
    )
    if limit is not None:
        query = query.limit(limit)
    return (await session.exec(query)).all()


async def end(
    session: AsyncSession, entry: WaitlistEntry, status: WaitStatus, *,
    order_id: int | None = None, reason: str | None = None,
) -> None:  # fmt: skip
    """Mark a waiting entry served or skipped (in the serving transaction)."""
    await session.exec(
        update(WaitlistEntry)
        .where(col(WaitlistEntry.id) == entry.id, col(WaitlistEntry.status) == WaitStatus.WAITING)
        .values(status=status, order_id=order_id, reason=reason, ended_at=utcnow())
    )


@dataclass(frozen=True)
class Unit:
    """``checkout.ports.UnitOfWork`` over a transaction already open (an order's
    transition's), for serving the waitlist in it."""

    session: AsyncSession
    announcer: Announcer
    deals: DealDesk
    calendar: Calendar = DEFAULT


@dataclass(frozen=True)
class Serving:
    """What placing a waitlisted buyer's order needs besides the transaction."""

    payments: PaymentProvider
    render: Render


def waitlist_key(entry_id: int) -> str:
    """The Idempotency-Key of the order a waitlist entry becomes: one entry, one order."""
    return f"waitlist:{entry_id}"


async def serve(unit: UnitOfWork, product_id: int, serving: Serving) -> int:
    """Hand the product's stock to its waitlist, in ``unit``'s transaction (the one that
    put units back, so nobody else can buy them first): the first waiting entry becomes
    its buyer's order at the list price (``source: "waitlist"``), then the next, until
    one does not fit in what is left (first come, first served: later ones wait too).
    A buyer whose payment is declined, or who no longer has an address and a card, is
    skipped and told (``waitlist_skipped``). Returns how many entries became orders."""
    served = 0
    for _ in range(MAX_SERVED):
        product = await lock_product(unit.session, product_id)
        entries = await waiting(unit.session, product_id, limit=1)
        if not entries or entries[0].quantity > product.stock:
            break
        entry = entries[0]
        outcome = await _order_for(unit, entry, serving)
        if isinstance(outcome, Placement):
            await end(unit.session, entry, WaitStatus.SERVED, order_id=outcome.order.id)
            served += 1
            continue
        if outcome.code not in ("payment_declined", "checkout_profile_required"):
            break  # not this buyer's doing (stock, a closed product): keep the place
        await end(unit.session, entry, WaitStatus.SKIPPED, reason=outcome.code)
        unit.announcer.tell(entry.user_id, "waitlist_skipped", {
            "product_id": product_id, "code": outcome.code, "message": outcome.message,
        })  # fmt: skip
    return served


async def _order_for(unit: UnitOfWork, entry: WaitlistEntry, serving: Serving) -> Outcome:
    """Place the entry's order (in a savepoint: a refusal leaves nothing behind)."""
    saved = await read_profile(unit.session, entry.user_id)
    if saved.address is None or saved.method is None:
        return CheckoutProfileRequired("the buyer has no saved address and card")
    request = OrderRequest(
        buyer_id=entry.user_id, buyer_name=entry.username,
        idempotency_key=waitlist_key(entry.id or 0), product_id=entry.product_id,
        quantity=entry.quantity, shipping=saved.address, shipping_saved=True,
        method=saved.method, source=OrderSource.WAITLIST.value,
    )  # fmt: skip
    try:
        async with unit.session.begin_nested():
            result = await place_batch(
                unit, [request], payments=serving.payments, render=serving.render
            )
    except NothingToKeep as nothing:
        result = nothing.result
    return result.outcomes[0]
