"""Moving a product's stock outside an order batch, and telling the lives showing it.

Restocks (a cancelled or returned order, a product's ``stock`` or inventory edited) and
units held or given back (an auction's, a giveaway's) take their locks in the order
every transaction does: ``lock_showing`` locks the lives showing the product (and any
others named) in id order first; then the product's row (its stock statement), then its
inventory rows. Each change moves the product's ``stock`` and its warehouse figures
together (``checkout.inventory``) and appends a ``stock`` event to those lives.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from checkout import inventory
from checkout.errors import BelowAllocated, StockElsewhere
from checkout.models import MAIN
from checkout.orders import StockLine, move_stock
from checkout.ports import Announcer, DealDesk
from checkout.runs import stock_now


async def lock_showing(
    session: AsyncSession, deals: DealDesk, product_id: int, *also: int
) -> list[int]:
    """Lock the lives showing ``product_id`` and ``also``, in id order; returns them."""
    lives = sorted({*await deals.lives_showing(session, product_id), *also})
    await deals.lock_lives(session, lives)
    return lives


class Shelves:
    """Stock moves in one transaction, told to ``lives`` (locked already)."""

    def __init__(self, session: AsyncSession, announcer: Announcer, lives: list[int]) -> None:
        self.session = session
        self.announcer = announcer
        self.lives = lives

    async def tell(self, line: StockLine | None) -> StockLine | None:
        if line is not None:
            await self.announcer.stock_changed(line.product_id, line.stock, line.sold, self.lives)
        return line

    async def release(self, product_id: int, warehouse: str, units: int) -> StockLine | None:
        """A cancelled order's units: no longer allocated, sellable again."""
        line = await move_stock(self.session, product_id, units)
        _must(await inventory.move(self.session, product_id, warehouse, allocated=-units))
        return await self.tell(line)

    async def receive(self, product_id: int, warehouse: str, units: int) -> StockLine | None:
        """Returned units back on the shelf they shipped from (a resellable return)."""
        line = await move_stock(self.session, product_id, units)
        _must(await inventory.move(self.session, product_id, warehouse, on_hand=units))
        return await self.tell(line)

    async def hold(self, product_id: int, key: str) -> StockLine | None:
        """Take one unit for an auction or a giveaway (``key``: its award's), from the
        warehouse with the most; None (nothing taken) when no warehouse has one."""
        await stock_now(self.session, product_id, lock=True)
        warehouse = (await inventory.bins(self.session, product_id)).pick(1)
        if warehouse is None:
            return None
        line = await move_stock(self.session, product_id, -1)
        if line is None:  # read locked a moment ago: cannot happen
            raise RuntimeError("the product's stock moved under its lock")
        await inventory.allocate(self.session, product_id, {warehouse: 1})
        await inventory.hold(self.session, key, product_id, warehouse)
        return await self.tell(line)

    async def give_back(self, product_id: int, key: str) -> StockLine | None:
        """A held unit nobody takes: sellable again where it was held."""
        await stock_now(self.session, product_id, lock=True)
        warehouse = await inventory.release_hold(self.session, key, product_id)
        return await self.release(product_id, warehouse, 1)

    async def put_on_hand(self, product_id: int, warehouse: str, on_hand: int) -> StockLine:
        """Set one warehouse's units on the shelves; the stock moves by the difference."""
        await stock_now(self.session, product_id, lock=True)
        await inventory.require(self.session, warehouse)
        figures = await inventory.put_on_hand(self.session, product_id, warehouse, on_hand)
        if figures is None:
            raise BelowAllocated("orders not shipped yet hold more units than that",
                                 warehouse=warehouse)  # fmt: skip
        line = await move_stock(self.session, product_id, on_hand - figures[0])
        return await _told(self, line)

    async def set_stock(self, product_id: int, stock: int) -> StockLine:
        """A v1 ``stock`` write: ``MAIN`` takes the difference."""
        delta = stock - await stock_now(self.session, product_id, lock=True)
        if not await inventory.move(self.session, product_id, MAIN, on_hand=delta):
            raise StockElsewhere(
                "other warehouses hold more units than that: set each warehouse's inventory",
                product_id=product_id,
            )
        line = await move_stock(self.session, product_id, delta)
        return await _told(self, line)


async def _told(shelves: Shelves, line: StockLine | None) -> StockLine:
    if line is None:  # the product's row is locked: its stock cannot have moved
        raise RuntimeError("the product's stock moved under its lock")
    await shelves.tell(line)
    return line


def _must(moved: bool) -> None:
    if not moved:
        raise RuntimeError("a product's inventory and stock disagree")


async def ship(session: AsyncSession, product_id: int, warehouse: str, units: int) -> None:
    """Units leave their warehouse: off the shelf and no longer allocated (what it can
    sell does not change, so the product's row is not locked)."""
    _must(await inventory.move(session, product_id, warehouse, on_hand=-units,
                                     allocated=-units))  # fmt: skip
