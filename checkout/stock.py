"""Moving a product's stock outside an order batch, and telling the lives showing it.

Restocks (a cancelled or returned order, a product's ``stock`` edited) and units held
or given back (an auction's) take their locks in the order every transaction does:
``lock_showing`` locks the lives showing the product (and any others named) in id
order first; ``move_and_tell`` then changes the product row and appends a ``stock``
event to each of those lives.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.orders import StockLine, move_stock
from checkout.ports import Announcer, DealDesk


async def lock_showing(
    session: AsyncSession, deals: DealDesk, product_id: int, *also: int
) -> list[int]:
    """Lock the lives showing ``product_id`` and ``also``, in id order; returns them."""
    lives = sorted({*await deals.lives_showing(session, product_id), *also})
    await deals.lock_lives(session, lives)
    return lives


async def move_and_tell(
    session: AsyncSession, announcer: Announcer, product_id: int, delta: int, lives: list[int]
) -> StockLine | None:
    """Add ``delta`` to the stock (``move_stock``: None, and nothing told, if it would go
    below zero) and append the ``stock`` event to ``lives`` (locked already)."""
    line = await move_stock(session, product_id, delta)
    if line is not None:
        await announcer.stock_changed(product_id, line.stock, line.sold, lives)
    return line
