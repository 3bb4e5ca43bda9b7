"""Placing orders for one product, several at once, in one transaction.

``place_batch`` is the only way an order is made. It is oversell-proof,
idempotent and priced by a running deal when there is one:

- The Idempotency-Keys are recorded first, with one multi-row
  ``INSERT ... ON CONFLICT DO NOTHING`` in a fixed order. A concurrent
  request holding the same key makes that INSERT wait (PostgreSQL's unique
  index) or runs strictly before or after it (SQLite's single writer), so the
  loser always sees the winner's committed record: one key, one order. A key
  seen before answers what it answered then (or ``idempotency_mismatch``).
- Stock is taken with conditional statements
  (``UPDATE products SET stock = stock - :n WHERE id = :id AND stock >= :n``),
  one per run of consecutive orders, never read-then-write, so it cannot
  oversell on SQLite or PostgreSQL. Requests are served first come, first
  served; one that does not fit is refused (409 ``insufficient_stock``) on
  the stock this transaction knows, without a statement of its own.
- Orders through a live are decided in memory under the live's lock (its deal
  cannot change meanwhile; the stock is read locked) with the single-order
  rules, then applied with one conditional statement each for the stock, the
  deal's units and the buyers' claims. A statement that still fails fails the
  batch; nothing of it is written.
- The orders, their history, their fulfillment outbox rows, the stored
  answers and one ``stock`` event per order commit together: after any
  failure nothing is half-written, and no order exists that fulfillment will
  not see.

Lock order, as everywhere: Idempotency-Keys, lives, products, pins (every pin writer
holds its live's lock first, so pins after products cannot deadlock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout import catalog
from checkout.attempts import Attempt, Listing, Outcome, short
from checkout.errors import (
    CheckoutError,
    IdempotencyMismatch,
    LiveNotOpen,
    NotInShow,
    OrderNotFound,
    UnknownLive,
)
from checkout.models import IdempotencyRecord, Order
from checkout.orders import OrderRequest, Placement
from checkout.ports import DealDesk, PaymentProvider, UnitOfWork
from checkout.records import NewOrder, Render, record, table_of
from checkout.runs import take_live_run, take_run
from common.sql import upsert_insert
from common.times import utcnow

__all__ = ["BatchResult", "NothingToKeep", "Outcome", "Render", "Settle", "place_batch"]

Settle = Callable[[int, Outcome], None]


@dataclass(frozen=True)
class BatchResult:
    outcomes: list[Outcome]  # one per request, in order
    placed: list[NewOrder]  # the new orders (to hand to fulfillment after commit)


class NothingToKeep(Exception):
    """Raised inside the transaction when no order was placed: roll back, answer anyway."""

    def __init__(self, result: BatchResult) -> None:
        super().__init__("nothing to commit")
        self.result = result


async def place_batch(
    unit: UnitOfWork,
    reqs: Sequence[OrderRequest],
    *,
    payments: PaymentProvider,
    render: Render,
    relayed: bool = False,
    settle: Settle | None = None,
) -> BatchResult:
    """Place ``reqs`` (one product, distinct keys) in ``unit``'s transaction.

    Every request gets an outcome: a ``Placement`` (new or replayed) or the
    ``CheckoutError`` it is refused with. Raises ``NothingToKeep`` (carrying
    the result) when no order was placed, so the caller rolls back instead of
    committing. ``relayed`` marks the outbox rows as handed to the queue
    already (the caller puts them on the stream right after commit).

    ``settle(i, outcome)`` is called as soon as request ``i`` is decided without
    needing this transaction to commit (a refusal, a replay), so its caller can
    be answered before the new orders are written.
    """
    session = unit.session
    attempts = [Attempt(req, req.fingerprint()) for req in reqs]
    if len({a.pair for a in attempts}) != len(attempts):
        # Two rows for one key in one INSERT would both look new: the caller must split them.
        raise ValueError("a batch takes one request per (buyer, Idempotency-Key)")
    if len({req.product_id for req in reqs}) > 1:
        raise ValueError("a batch is for one product")
    fresh = await _claim_keys(session, attempts)
    placed: list[Attempt] = []
    if fresh:
        placed = await _buy(unit, fresh, payments)
    if settle is not None:
        for i, a in enumerate(attempts):
            if a.outcome is not None:
                settle(i, a.outcome)
    if not placed:
        raise NothingToKeep(BatchResult(_outcomes(attempts), []))
    refused = [a for a in fresh if a.outcome is not None]
    if refused:
        await session.exec(delete(IdempotencyRecord).where(_keys_of(refused)))
    new_orders = await record(session, placed, render, relayed=relayed, calendar=unit.calendar)
    for a, order in zip(placed, new_orders, strict=True):
        unit.announcer.order_changed(order, a.history)
    return BatchResult(_outcomes(attempts), new_orders)


def _keys_of(attempts: list[Attempt]) -> ColumnElement[bool]:
    """``(buyer_id, key) IN (...)`` for the attempts' Idempotency-Keys."""
    pairs = tuple_(col(IdempotencyRecord.buyer_id), col(IdempotencyRecord.key))
    return pairs.in_([a.pair for a in attempts])


def _outcomes(attempts: list[Attempt]) -> list[Outcome]:
    undecided = [a.pair for a in attempts if a.outcome is None]
    if undecided:  # a bug, not an input: fail the batch rather than misanswer it
        raise RuntimeError(f"orders left undecided: {undecided}")
    return [a.outcome for a in attempts if a.outcome is not None]


async def _claim_keys(session: AsyncSession, attempts: list[Attempt]) -> list[Attempt]:
    """Record the keys; answer the ones seen before. Returns the new ones, in order."""
    rows = [
        {"buyer_id": a.req.buyer_id, "key": a.req.idempotency_key, "request_hash": a.digest,
         "created_at": utcnow()}
        for a in sorted(attempts, key=lambda a: a.pair)  # one lock order for every batch
    ]  # fmt: skip
    # executemany (one multi-row INSERT, compiled once): rows go in the order given
    table = table_of(IdempotencyRecord)
    claim = upsert_insert(session)(table).on_conflict_do_nothing()
    conn = await session.connection()
    inserted = await conn.execute(claim.returning(table.c.buyer_id, table.c.key), rows)
    new = {(int(b), str(k)) for b, k in inserted.all()}
    seen = [a for a in attempts if a.pair not in new]
    if seen:
        await _replay(session, seen)
    return [a for a in attempts if a.pair in new]


async def _replay(session: AsyncSession, seen: list[Attempt]) -> None:
    records = await session.exec(select(IdempotencyRecord).where(_keys_of(seen)))
    by_pair = {(r.buyer_id, r.key): r for r in records.all()}
    order_ids = [r.order_id for r in by_pair.values() if r.order_id is not None]
    found = await session.exec(select(Order).where(col(Order.id).in_(order_ids)))
    by_id = {o.id: o for o in found.all()}
    for a in seen:
        record = by_pair.get(a.pair)
        if record is None or record.order_id is None:  # pragma: no cover - see _claim_keys
            a.outcome = IdempotencyMismatch("this Idempotency-Key is in use by another request")
        elif record.request_hash != a.digest:
            a.outcome = IdempotencyMismatch(
                "this Idempotency-Key was used with a different request"
            )
        elif (order := by_id.get(record.order_id)) is None:  # pragma: no cover - never deleted
            a.outcome = OrderNotFound("order not found")
        else:
            a.outcome = Placement(order=order, replayed=True, response=record.response)


async def _check_lives(session: AsyncSession, deals: DealDesk, fresh: list[Attempt]) -> None:
    """Refuse orders naming a live that does not exist or is not running; a replay's, a
    live that has not started, or a product it never showed."""
    status: dict[int, str | None] = {}
    shown: dict[int, bool] = {}
    for a in fresh:
        live_id = a.req.live_id
        if live_id is None:
            continue
        if live_id not in status:
            status[live_id] = await deals.live_status(session, live_id)
        now = status[live_id]
        if now is None:
            a.outcome = UnknownLive("no such live", live_id=live_id)
        elif not a.req.replay:
            if now != "live":
                a.outcome = LiveNotOpen(f"the live is {now}: orders through it are closed")
        elif now == "scheduled":
            a.outcome = LiveNotOpen("the live has not started: it has no replay yet")
        else:
            if live_id not in shown:
                shown[live_id] = await deals.shown_on(session, live_id, a.req.product_id)
            if not shown[live_id]:
                a.outcome = NotInShow("the live never showed this product",
                                      live_id=live_id, field="product_id")  # fmt: skip


async def _buy(unit: UnitOfWork, fresh: list[Attempt], payments: PaymentProvider) -> list[Attempt]:
    """Price, authorize and take stock for each new request; returns those that got it."""
    session, deals = unit.session, unit.deals
    product_id = fresh[0].req.product_id
    await _check_lives(session, deals, fresh)
    try:
        listed = Listing.of(await catalog.get_product(session, product_id))
    except CheckoutError as exc:
        for a in fresh:
            if a.outcome is None:
                a.outcome = exc
        return []
    stock = listed.stock  # read, not locked: refusing on it is safe, selling is not
    buyers = [a for a in fresh if a.outcome is None]
    if not any(a.req.quantity <= stock for a in buyers):
        for a in buyers:
            a.outcome = short(product_id, stock)
        return []
    showing = await deals.lives_showing(session, product_id)
    lives = sorted(set(showing) | {a.req.through for a in buyers if a.req.through is not None})
    await deals.lock_lives(session, lives)
    placed: list[Attempt] = []
    for run in _runs(buyers):
        if run[0].req.through is None:  # plain orders: their stock in one statement
            placed.extend(await take_run(unit, run, listed, payments, lives))
        else:
            placed.extend(await take_live_run(unit, run, listed, payments, lives))
    return placed


def _runs(buyers: list[Attempt]) -> list[list[Attempt]]:
    """Consecutive orders through the same live (or through none: plain orders and
    replays' at the list price) together."""
    runs: list[list[Attempt]] = []
    for a in buyers:
        if runs and runs[-1][0].req.through == a.req.through:
            runs[-1].append(a)
        else:
            runs.append([a])
    return runs
