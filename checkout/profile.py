"""Checkout profiles: a buyer's saved shipping address and payment method.

One row per buyer (``buyer_profiles``), written with ``INSERT ... ON CONFLICT DO
UPDATE``: the first save creates it, later ones overwrite only what they save, and
two concurrent saves never fail on the primary key. An order without ``shipping``
ships to the saved address; a buyer with a saved method is authorized with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.models import BuyerProfile
from checkout.ports import SavedMethod
from checkout.records import table_of
from common.sql import upsert_insert
from common.times import utcnow


@dataclass(frozen=True, slots=True)
class Profile:
    """What is saved for a buyer; ``address``/``method`` are None until saved."""

    user_id: int
    address: dict[str, str] | None = None
    method: SavedMethod | None = None
    updated_at: datetime | None = None

    @property
    def complete(self) -> bool:
        """Both saved: what one-tap buying (bids, comment-to-buy, ...) needs."""
        return self.address is not None and self.method is not None


def _profile(row: BuyerProfile | None, user_id: int) -> Profile:
    if row is None:
        return Profile(user_id)
    method = None
    if row.customer_ref and row.method_ref:
        method = SavedMethod(row.customer_ref, row.method_ref, row.card_brand or "",
                             row.card_last4 or "")  # fmt: skip
    address = json.loads(row.address) if row.address is not None else None
    return Profile(user_id, address, method, row.updated_at)


async def read_profile(session: AsyncSession, user_id: int) -> Profile:
    """The buyer's profile (empty when nothing was saved): one primary-key read."""
    return _profile(await session.get(BuyerProfile, user_id), user_id)


async def with_complete_profiles(session: AsyncSession, user_ids: Sequence[int]) -> set[int]:
    """Which of ``user_ids`` have saved both an address and a payment method: one query."""
    query = select(BuyerProfile.user_id).where(
        col(BuyerProfile.user_id).in_(sorted(set(user_ids))),
        col(BuyerProfile.address).is_not(None),
        col(BuyerProfile.customer_ref).is_not(None),
        col(BuyerProfile.method_ref).is_not(None),
    )
    return {int(i) for i in (await session.exec(query)).all()}


async def _upsert(session: AsyncSession, user_id: int, values: dict[str, Any]) -> None:
    table = table_of(BuyerProfile)
    values = {**values, "updated_at": utcnow()}
    insert = upsert_insert(session)(table).values(user_id=user_id, **values)
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.user_id],
        set_={name: insert.excluded[name] for name in values},
    )
    await session.exec(statement)


async def save_address(session: AsyncSession, user_id: int, address: dict[str, str]) -> None:
    """Save (or replace) the buyer's shipping address."""
    encoded = json.dumps(address, separators=(",", ":"), ensure_ascii=False)
    await _upsert(session, user_id, {"address": encoded})


async def save_method(session: AsyncSession, user_id: int, method: SavedMethod) -> None:
    """Save (or replace) the buyer's payment method, with the customer it belongs to:
    the two are kept as one pair, as the provider made them."""
    await _upsert(session, user_id, {
        "customer_ref": method.customer_ref, "method_ref": method.method_ref,
        "card_brand": method.brand, "card_last4": method.last4,
    })  # fmt: skip


def account_reference(user_id: int) -> str:
    """How livecart names a buyer to the payment provider (a new customer's metadata)."""
    return f"livecart:user:{user_id}"
