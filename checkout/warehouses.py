"""Warehouses (admin-managed): adding one, listing them, keeping ``MAIN``'s country.

``MAIN`` always exists (the migration creates it; its country follows the
``LIVECART_MAIN_COUNTRY`` setting at every start). A warehouse is never removed: orders
and inventory name it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.errors import WarehouseExists
from checkout.models import MAIN, Warehouse
from common.sql import upsert_insert
from common.times import utcnow


async def create(session: AsyncSession, code: str, name: str, country: str) -> Warehouse:
    """Add a warehouse; ``WarehouseExists`` (nothing written) if the code is taken."""
    added = await session.exec(
        upsert_insert(session)(Warehouse)
        .values(code=code, name=name, country=country, created_at=utcnow())
        .on_conflict_do_nothing()
    )
    if added.rowcount != 1:
        raise WarehouseExists(f"warehouse {code} exists already", warehouse=code)
    found = await session.get(Warehouse, code)
    if found is None:  # inserted a moment ago in this transaction
        raise RuntimeError(f"warehouse {code} vanished")
    return found


async def listed(session: AsyncSession) -> Sequence[Warehouse]:
    """Every warehouse, ``MAIN`` first, then by code."""
    rows = (await session.exec(select(Warehouse).order_by(col(Warehouse.code)))).all()
    return sorted(rows, key=lambda w: (w.code != MAIN, w.code))


async def keep_main(session: AsyncSession, country: str) -> None:
    """``MAIN``'s country as configured (a no-op when it already is)."""
    await session.exec(
        update(Warehouse)
        .where(col(Warehouse.code) == MAIN, col(Warehouse.country) != country)
        .values(country=country)
    )
