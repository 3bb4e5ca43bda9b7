"""Webhook events written in the transaction of the change they report (the outbox).

``EventSink`` collects what one transaction did (orders placed or changed, a product's
stock, an auction's end) and, just before it commits, writes one delivery row per event
per subscribed endpoint of the creator who owns the product — so an event exists if and
only if its change committed, and nothing is sent from inside the transaction.

``Subscriptions`` is the per-process view of who listens: the active endpoints (re-read
at most every ``REFRESH_S``, and at once after this process changed one) and each
product's creator (which never changes). A transaction of a creator with no endpoint
costs no statement at all. Guarantee: an endpoint gets every event of its creator's
products from at most ``REFRESH_S`` after it was added.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.models import Product
from checkout.orders import EventLike, OrderLike, histories, order_view
from checkout.records import table_of
from checkout.webhook_models import Webhook, WebhookDelivery, WebhookStatus
from checkout.webhook_rules import new_event_id
from common.times import iso_utc, utcnow

REFRESH_S = 2.0
OWNERS_KEPT = 100_000  # product -> creator entries kept per process


class Subscriptions:
    """Active endpoints by creator, and products' creators, cached per process."""

    def __init__(self, refresh_s: float = REFRESH_S) -> None:
        self.refresh_s = refresh_s
        self.endpoints: dict[int, list[tuple[int, frozenset[str]]]] = {}
        self.read_at = float("-inf")
        self.owners: dict[int, int] = {}

    def changed(self) -> None:
        """This process added, removed or re-enabled an endpoint: read them again."""
        self.read_at = float("-inf")

    async def current(self, session: AsyncSession) -> dict[int, list[tuple[int, frozenset[str]]]]:
        if time.monotonic() - self.read_at >= self.refresh_s:
            rows = await session.exec(
                select(Webhook.id, Webhook.creator_id, Webhook.events)
                .where(Webhook.status == WebhookStatus.ACTIVE.value)
            )  # fmt: skip
            endpoints: dict[int, list[tuple[int, frozenset[str]]]] = {}
            for webhook_id, creator_id, events in rows.all():
                hook = (webhook_id or 0, frozenset(events.split()))
                endpoints.setdefault(creator_id, []).append(hook)
            self.endpoints, self.read_at = endpoints, time.monotonic()
        return self.endpoints

    async def creators(self, session: AsyncSession, product_ids: set[int]) -> dict[int, int]:
        missing = [p for p in product_ids if p not in self.owners]
        if missing:
            if len(self.owners) > OWNERS_KEPT:
                self.owners.clear()
            rows = await session.exec(
                select(Product.id, Product.creator_id).where(col(Product.id).in_(missing))
            )
            self.owners.update({pid or 0: creator for pid, creator in rows.all()})
        return {p: self.owners[p] for p in product_ids if p in self.owners}


@dataclass
class _Event:
    type: str
    product_id: int
    key: str
    data: dict[str, Any] | None = None
    order: OrderLike | None = None
    history: list[EventLike] | None = None


@dataclass
class EventSink:
    """What one transaction reports; ``write`` it before the commit."""

    subscriptions: Subscriptions
    events: list[_Event] = field(default_factory=list)
    stock: dict[int, dict[str, Any]] = field(default_factory=dict)

    def order(self, order: OrderLike, history: list[EventLike] | None) -> None:
        """A new order (with its history) is ``order.placed``; a change ``order.updated``."""
        kind = "order.placed" if history is not None else "order.updated"
        self.events.append(_Event(kind, order.product_id, f"order:{order.id}", order=order,
                                  history=history))  # fmt: skip

    def stock_changed(self, product_id: int, stock: int, sold: int) -> None:
        """The product's figures after this transaction (one event however many moves)."""
        self.stock[product_id] = {"product_id": product_id, "stock": stock, "sold": sold}

    def auction_ended(self, product_id: int, auction_id: int, data: dict[str, Any]) -> None:
        self.events.append(_Event("auction.ended", product_id, f"auction:{auction_id}", data))

    async def write(self, session: AsyncSession) -> int:
        """The delivery rows for this transaction's events; returns how many."""
        events = [*self.events, *(_Event("stock.changed", p, f"product:{p}", d)
                                  for p, d in self.stock.items())]  # fmt: skip
        self.events, self.stock = [], {}
        if not events:
            return 0
        endpoints = await self.subscriptions.current(session)
        if not endpoints:
            return 0
        owners = await self.subscriptions.creators(session, {e.product_id for e in events})
        listened: list[tuple[_Event, list[int]]] = []
        for e in events:
            hooks = endpoints.get(owners.get(e.product_id, 0), [])
            ids = [w for w, types in hooks if e.type in types]
            if ids:
                listened.append((e, ids))
        if not listened:
            return 0
        await _fill_histories(session, [e for e, _ in listened])
        now, rows = utcnow(), []
        for event, webhook_ids in listened:
            event_id = new_event_id()
            body = json.dumps({"id": event_id, "type": event.type, "created_at": iso_utc(now),
                               "data": _data(event)}, separators=(",", ":"))  # fmt: skip
            rows += [{"webhook_id": w, "event_id": event_id, "type": event.type,
                      "ordering_key": event.key, "body": body, "status": "pending",
                      "attempts": 0, "next_attempt_at": now, "created_at": now}
                     for w in webhook_ids]  # fmt: skip
        # executemany, compiled once (a multi-row VALUES is compiled anew for every size)
        conn = await session.connection()
        await conn.execute(insert(table_of(WebhookDelivery)), rows)
        return len(rows)


async def _fill_histories(session: AsyncSession, events: Sequence[_Event]) -> None:
    """Changed orders carry their whole history, as their ``order`` frames do."""
    unknown = [e for e in events if e.order is not None and e.history is None]
    found = await histories(session, [e.order.id or 0 for e in unknown if e.order])
    for e in unknown:
        e.history = list(found.get(e.order.id or 0, [])) if e.order else []


def _data(event: _Event) -> dict[str, Any]:
    if event.order is not None:
        return {"order": order_view(event.order, event.history or [])}
    return event.data or {}
