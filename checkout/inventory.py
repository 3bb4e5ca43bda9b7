"""Each product's units per warehouse: reading them and moving them.

Invariant, kept by every writer in the transaction that moves a product's ``stock``: the
stock is the sum over warehouses of ``on_hand - allocated`` (the ``inventory`` rows). A
row's ``allocated`` never exceeds its ``on_hand`` (a CHECK constraint as the last
defence). Every writer that changes what a warehouse can sell holds the product's row
lock first (PostgreSQL: the stock ``UPDATE`` or ``SELECT ... FOR UPDATE``; SQLite's
single writer already does), so figures read under it stay true until commit.

- placing: ``allocated`` up in the chosen warehouse (``allocate``);
- shipping: ``on_hand`` and ``allocated`` down together (what it can sell is unchanged);
- cancelling: ``allocated`` down (the units are sellable again);
- a resellable return: ``on_hand`` up in the warehouse it shipped from;
- an auction's or a giveaway's unit: allocated when held (``hold``), then its order's, or
  back to sellable.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.allocation import Bins, Shelf
from checkout.errors import WarehouseNotFound
from checkout.models import MAIN, Hold, Inventory, Warehouse


async def shelves(session: AsyncSession, product_id: int) -> list[Shelf]:
    """The product's figures in every warehouse that has a row for it, by code."""
    rows = await session.exec(
        select(Inventory.warehouse, Warehouse.country, Inventory.on_hand, Inventory.allocated)
        .join(Warehouse, col(Warehouse.code) == col(Inventory.warehouse))
        .where(Inventory.product_id == product_id)
        .order_by(col(Inventory.warehouse))
    )
    return [Shelf(*row) for row in rows.all()]


async def bins(session: AsyncSession, product_id: int) -> Bins:
    return Bins(await shelves(session, product_id))


async def allocate(session: AsyncSession, product_id: int, taken: dict[str, int]) -> None:
    """Allocate ``taken`` units (warehouse -> units) decided on figures read under the
    product's lock: a statement that finds fewer units fails the batch, never oversells."""
    for warehouse, units in sorted(taken.items()):
        if not await move(session, product_id, warehouse, allocated=units):
            raise RuntimeError(f"inventory of product {product_id} in {warehouse} moved "
                               "under the product's lock")  # fmt: skip


async def move(
    session: AsyncSession, product_id: int, warehouse: str, *, on_hand: int = 0,
    allocated: int = 0,
) -> bool:  # fmt: skip
    """Add the deltas to one row in one conditional statement; False (nothing changed)
    when the row is missing or the result would break ``0 <= allocated <= on_hand``."""
    row = Inventory
    result = await session.exec(
        update(row)
        .where(col(row.product_id) == product_id, col(row.warehouse) == warehouse,
               col(row.allocated) + allocated >= 0,
               col(row.on_hand) + on_hand >= col(row.allocated) + allocated)
        .values(on_hand=col(row.on_hand) + on_hand, allocated=col(row.allocated) + allocated)
    )  # fmt: skip
    return bool(result.rowcount == 1)


async def put_on_hand(
    session: AsyncSession, product_id: int, warehouse: str, on_hand: int
) -> tuple[int, int] | None:
    """Set the units on the shelves (creating the row); returns (before, allocated), or
    None when ``on_hand`` is below what is allocated (nothing changed). The caller holds
    the product's lock."""
    current = await session.get(Inventory, (product_id, warehouse), with_for_update=True)
    if current is None:  # the product's first units there
        session.add(Inventory(product_id=product_id, warehouse=warehouse, on_hand=on_hand))
        await session.flush()
        return 0, 0
    before, allocated = current.on_hand, current.allocated
    if on_hand < allocated:
        return None
    await move(session, product_id, warehouse, on_hand=on_hand - before)
    return before, allocated


async def rows_of(session: AsyncSession, product_id: int) -> Sequence[Inventory]:
    query = select(Inventory).where(Inventory.product_id == product_id)
    rows = await session.exec(query.order_by(col(Inventory.warehouse)))
    return rows.all()


async def create(session: AsyncSession, product_id: int, on_hand: int) -> None:
    """A new product's ``MAIN`` row (v1 ``stock`` at creation)."""
    session.add(Inventory(product_id=product_id, warehouse=MAIN, on_hand=on_hand, allocated=0))
    await session.flush()


async def hold(session: AsyncSession, key: str, product_id: int, warehouse: str) -> None:
    """Record that ``key``'s unit (allocated in ``warehouse``) waits for its order."""
    session.add(Hold(key=key, product_id=product_id, warehouse=warehouse))
    await session.flush()


async def release_hold(session: AsyncSession, key: str, product_id: int) -> str:
    """End ``key``'s hold; returns its warehouse. A unit held before warehouses existed
    has no hold row and was counted nowhere: it is put on ``MAIN``'s shelf, allocated."""
    gone = await session.exec(
        delete(Hold).where(col(Hold.key) == key).returning(col(Hold.warehouse))
    )
    warehouse = gone.scalar_one_or_none()
    if warehouse is not None:
        return str(warehouse)
    await move(session, product_id, MAIN, on_hand=1, allocated=1)
    return MAIN


async def require(session: AsyncSession, code: str) -> Warehouse:
    found = await session.get(Warehouse, code)
    if found is None:
        raise WarehouseNotFound(f"no warehouse {code}", warehouse=code)
    return found
