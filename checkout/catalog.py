"""Products owned by creators: create, look up, list, update (e.g. restock)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from checkout import inventory
from checkout.errors import ProductNotFound
from checkout.models import Product
from common.sql import get_or_raise, inserted, newest_first
from common.times import utcnow

# Fields an owner may change with an update (``stock`` moves through ``checkout.stock``).
EDITABLE_FIELDS = frozenset({"title", "description", "price_cents", "currency", "image_url", "url"})


async def create_product(
    session: AsyncSession,
    *,
    creator_id: int,
    title: str,
    price_cents: int,
    stock: int,
    description: str = "",
    currency: str = "USD",
    image_url: str | None = None,
    url: str | None = None,
) -> Product:
    product = Product(
        creator_id=creator_id,
        title=title,
        description=description,
        price_cents=price_cents,
        currency=currency,
        stock=stock,
        image_url=image_url,
        url=url,
    )
    product = await inserted(session, product)
    await inventory.create(session, product.id or 0, stock)  # v1 stock: MAIN's shelf
    return product


async def get_product(session: AsyncSession, product_id: int) -> Product:
    missing = ProductNotFound("product not found", product_id=product_id)
    return await get_or_raise(session, Product, product_id, missing)


async def list_products(
    session: AsyncSession, *, creator_id: int | None = None, limit: int = 50, offset: int = 0
) -> Sequence[Product]:
    return await newest_first(session, Product, limit=limit, offset=offset, creator_id=creator_id)


async def update_product(
    session: AsyncSession, product: Product, changes: Mapping[str, Any]
) -> Product:
    """Apply ``changes`` (a subset of ``EDITABLE_FIELDS``) to ``product``."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    for name, value in changes.items():
        setattr(product, name, value)
    if changes:
        product.updated_at = utcnow()
        session.add(product)
        await session.flush()
    return product
