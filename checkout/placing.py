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

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, tuple_, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout import catalog
from checkout.errors import (
    CheckoutError,
    DealLimitExceeded,
    IdempotencyMismatch,
    InsufficientStock,
    LiveNotOpen,
    OrderNotFound,
    UnknownLive,
)
from checkout.models import (
    IdempotencyRecord,
    Order,
    OrderEvent,
    OrderStatus,
    OutboxEntry,
    PaymentStatus,
    Product,
    utcnow,
)
from checkout.orders import (
    EventLike,
    OrderLike,
    OrderRequest,
    Placement,
    StockLine,
    move_stock,
    upsert_insert,
)
from checkout.ports import DealDesk, DealTerms, PaymentProvider, UnitOfWork

Render = Callable[[OrderLike, list[EventLike]], str]
"""The answer for a new order (its JSON body), stored under its Idempotency-Key."""

Outcome = Placement | CheckoutError
Settle = Callable[[int, Outcome], None]


@dataclass(eq=False)  # compared by identity
class _Attempt:
    req: OrderRequest
    digest: str
    outcome: Outcome | None = None
    unit_price: int = 0
    currency: str = ""
    pin_id: int | None = None
    payment_ref: str = ""
    history: list[EventLike] | None = None
    deal_left: dict[int, int | None] | None = None  # for its stock frame: live id -> units

    @property
    def pair(self) -> tuple[int, str]:
        return (self.req.buyer_id, self.req.idempotency_key)


@dataclass(frozen=True, slots=True)
class _Listing:
    """The product as read at the start of the batch, as plain values: an ORM object would
    be expired (and reload with blocking I/O) when a savepoint that touched it rolls back."""

    product_id: int
    price_cents: int
    currency: str
    stock: int
    sold: int

    @classmethod
    def of(cls, product: Product) -> _Listing:
        return cls(product.id or 0, product.price_cents, product.currency, product.stock,
                   product.sold)  # fmt: skip


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
    attempts = [_Attempt(req, req.fingerprint()) for req in reqs]
    if len({a.pair for a in attempts}) != len(attempts):
        # Two rows for one key in one INSERT would both look new: the caller must split them.
        raise ValueError("a batch takes one request per (buyer, Idempotency-Key)")
    if len({req.product_id for req in reqs}) > 1:
        raise ValueError("a batch is for one product")
    fresh = await _claim_keys(session, attempts)
    placed: list[_Attempt] = []
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
        await session.exec(
            delete(IdempotencyRecord).where(
                tuple_(col(IdempotencyRecord.buyer_id), col(IdempotencyRecord.key)).in_(
                    [a.pair for a in refused]
                )
            )
        )
    new_orders = await _record(session, placed, render, relayed=relayed)
    for a, order in zip(placed, new_orders, strict=True):
        unit.announcer.order_changed(order, a.history)
    return BatchResult(_outcomes(attempts), new_orders)


def _outcomes(attempts: list[_Attempt]) -> list[Outcome]:
    undecided = [a.pair for a in attempts if a.outcome is None]
    if undecided:  # a bug, not an input: fail the batch rather than misanswer it
        raise RuntimeError(f"orders left undecided: {undecided}")
    return [a.outcome for a in attempts if a.outcome is not None]


async def _claim_keys(session: AsyncSession, attempts: list[_Attempt]) -> list[_Attempt]:
    """Record the keys; answer the ones seen before. Returns the new ones, in order."""
    rows = [
        {"buyer_id": a.req.buyer_id, "key": a.req.idempotency_key, "request_hash": a.digest,
         "created_at": utcnow()}
        for a in sorted(attempts, key=lambda a: a.pair)  # one lock order for every batch
    ]  # fmt: skip
    # executemany (one multi-row INSERT, compiled once): rows go in the order given
    table = _table(IdempotencyRecord)
    claim = upsert_insert(session)(table).on_conflict_do_nothing()
    conn = await session.connection()
    inserted = await conn.execute(claim.returning(table.c.buyer_id, table.c.key), rows)
    new = {(int(b), str(k)) for b, k in inserted.all()}
    seen = [a for a in attempts if a.pair not in new]
    if seen:
        await _replay(session, seen)
    return [a for a in attempts if a.pair in new]


async def _replay(session: AsyncSession, seen: list[_Attempt]) -> None:
    records = await session.exec(
        select(IdempotencyRecord).where(
            tuple_(col(IdempotencyRecord.buyer_id), col(IdempotencyRecord.key)).in_(
                [a.pair for a in seen]
            )
        )
    )
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


async def _check_lives(session: AsyncSession, deals: DealDesk, fresh: list[_Attempt]) -> None:
    """Refuse orders naming a live that does not exist or is not running."""
    status: dict[int, str | None] = {}
    for a in fresh:
        live_id = a.req.live_id
        if live_id is None:
            continue
        if live_id not in status:
            status[live_id] = await deals.live_status(session, live_id)
        if status[live_id] is None:
            a.outcome = UnknownLive("no such live", live_id=live_id)
        elif status[live_id] != "live":
            a.outcome = LiveNotOpen(f"the live is {status[live_id]}: orders through it are closed")


async def _buy(
    unit: UnitOfWork, fresh: list[_Attempt], payments: PaymentProvider
) -> list[_Attempt]:
    """Price, authorize and take stock for each new request; returns those that got it."""
    session, deals = unit.session, unit.deals
    product_id = fresh[0].req.product_id
    await _check_lives(session, deals, fresh)
    try:
        listed = _Listing.of(await catalog.get_product(session, product_id))
    except CheckoutError as exc:
        for a in fresh:
            if a.outcome is None:
                a.outcome = exc
        return []
    stock = listed.stock  # read, not locked: refusing on it is safe, selling is not
    buyers = [a for a in fresh if a.outcome is None]
    if not any(a.req.quantity <= stock for a in buyers):
        for a in buyers:
            a.outcome = _short(product_id, stock)
        return []
    showing = await deals.lives_showing(session, product_id)
    lives = sorted(set(showing) | {a.req.live_id for a in buyers if a.req.live_id is not None})
    await deals.lock_lives(session, lives)
    placed: list[_Attempt] = []
    for run in _runs(buyers):
        if run[0].req.live_id is None:  # plain orders: their stock in one statement
            got, stock = await _take_run(unit, run, listed, payments, stock, lives)
        else:
            got, stock = await _take_live_run(unit, run, listed, payments, lives)
        placed.extend(got)
    return placed


def _runs(buyers: list[_Attempt]) -> list[list[_Attempt]]:
    """Consecutive orders through the same live (or through none) together."""
    runs: list[list[_Attempt]] = []
    for a in buyers:
        if runs and runs[-1][0].req.live_id == a.req.live_id:
            runs[-1].append(a)
        else:
            runs.append([a])
    return runs


async def _announce(
    unit: UnitOfWork, product_id: int, taken: list[_Attempt], line: StockLine, lives: list[int]
) -> None:
    """One ``stock`` event per order, with the figures right after it ("after every
    order"); ``taken`` in the order their units were taken, ending at ``line``."""
    after = sum(a.req.quantity for a in taken)
    figures: list[tuple[int, int, dict[int, int | None] | None]] = []
    for a in taken:
        after -= a.req.quantity
        figures.append((line.stock + after, line.sold - after, a.deal_left))
    await unit.announcer.stock_runs(unit.session, product_id, figures, lives)


async def _take_run(
    unit: UnitOfWork, run: list[_Attempt], listed: _Listing, payments: PaymentProvider,
    stock: int, lives: list[int],
) -> tuple[list[_Attempt], int]:  # fmt: skip
    """Plain orders (or orders through a live without a deal), first come first served:
    all the units that fit, in one conditional UPDATE for their total. If the stock moved
    since it was read, the orders are chosen again on the stock as it is now."""
    session, product_id = unit.session, listed.product_id
    chosen = await _choose(run, listed, payments, stock, {})
    line: StockLine | None = None
    while chosen:
        line = await move_stock(session, product_id, -sum(a.req.quantity for a in chosen))
        if line is not None:
            break
        stock = await _stock_now(session, product_id)  # it moved under us
        chosen = await _choose(run, listed, payments, stock, {id(a): a for a in chosen})
    left = stock if line is None else line.stock
    picked = {id(a) for a in chosen}
    for a in run:
        if a.outcome is None and id(a) not in picked:
            a.outcome = _short(product_id, left)
    if line is not None:
        await _announce(unit, product_id, chosen, line, lives)
    return chosen, left


async def _choose(
    run: list[_Attempt], listed: _Listing, payments: PaymentProvider, stock: int,
    held: dict[int, _Attempt],
) -> list[_Attempt]:  # fmt: skip
    """The orders that get units, in arrival order: each that fits in what is left, with
    its payment authorized. Authorizations run concurrently (a real provider is a network
    call, and this transaction holds locks meanwhile); a declined order's units go to the
    next in line. ``held``: orders authorized before, kept if they still fit and voided if
    not (a second pass after the stock moved)."""
    chosen: list[_Attempt] = []
    room = stock
    seen: set[int] = set()
    while True:
        wave, left = [], room
        for a in run:
            if id(a) not in seen and a.outcome is None and a.req.quantity <= left:
                wave.append(a)
                left -= a.req.quantity
        if not wave:
            break
        fresh = [a for a in wave if id(a) not in held]
        for a in fresh:
            a.unit_price, a.currency = listed.price_cents, listed.currency
        refs = await asyncio.gather(
            *(payments.authorize(a.unit_price * a.req.quantity, a.currency,
                                 f"livecart:{a.req.buyer_id}:{a.req.idempotency_key}")
              for a in fresh),
            return_exceptions=True,
        )  # fmt: skip
        outcome = {id(a): ref for a, ref in zip(fresh, refs, strict=True)}
        failure: BaseException | None = None
        for a in wave:
            seen.add(id(a))
            ref = outcome.get(id(a), a.payment_ref)
            if isinstance(ref, CheckoutError):
                a.outcome = ref  # declined: its units stay for the next in line
            elif isinstance(ref, BaseException):
                failure = failure or ref
            else:
                a.payment_ref = ref
                chosen.append(a)
                room -= a.req.quantity
        if failure is not None:  # the provider failed: the whole batch fails
            raise failure
    picked = {id(a) for a in chosen}
    for a in held.values():
        if id(a) not in picked:
            await payments.void(a.payment_ref)
    order = {id(a): i for i, a in enumerate(run)}
    return sorted(chosen, key=lambda a: order[id(a)])


async def _take_live_run(
    unit: UnitOfWork, run: list[_Attempt], listed: _Listing, payments: PaymentProvider,
    lives: list[int],
) -> tuple[list[_Attempt], int]:  # fmt: skip
    """Orders through one live, first come first served. The live's lock is held, so its
    deal terms hold until commit; the product's stock is read locked. The orders are
    decided one by one with the single-order rules, then their units go in one statement
    each for stock and deal; the deal's ``sold_out`` comes right after the stock event of
    the order that took its last unit."""
    session, deals, product_id = unit.session, unit.deals, listed.product_id
    live_id = run[0].req.live_id or 0
    terms = await deals.terms(session, live_id, product_id, [a.req.buyer_id for a in run])
    stock = await _stock_now(session, product_id, lock=True)
    for a in run:
        a.pin_id = terms.pin_id
    if terms.unit_price_cents is None or terms.pin_id is None:  # no deal: the list price
        return await _take_run(unit, run, listed, payments, stock, lives)
    deal = _DealTally(terms, live_id)
    chosen: list[_Attempt] = []
    for a in run:
        on_deal = deal.running()  # decided once per order: the clock may pass its end
        refusal: CheckoutError | None = (
            _short(product_id, stock) if a.req.quantity > stock else None
        )
        if refusal is None and on_deal:
            refusal = deal.refusal(a)
        if refusal is not None:
            a.outcome = refusal
            continue
        a.unit_price = deal.price_cents if on_deal else listed.price_cents
        a.currency = listed.currency
        try:
            a.payment_ref = await payments.authorize(
                a.unit_price * a.req.quantity, a.currency,
                f"livecart:{a.req.buyer_id}:{a.req.idempotency_key}",
            )  # fmt: skip
        except CheckoutError as exc:  # declined: what it would have taken stays
            a.outcome = exc
            continue
        stock -= a.req.quantity
        if on_deal:
            deal.use(a)
        chosen.append(a)
    if not chosen:
        return [], stock
    line = await move_stock(session, product_id, -sum(a.req.quantity for a in chosen))
    if line is None:  # read locked a moment ago: cannot happen; fail rather than guess
        raise RuntimeError("the product's stock moved under its lock")
    per_buyer = deal.per_buyer(chosen)
    if per_buyer:
        try:
            left = await deals.take(session, live_id, terms.pin_id, per_buyer)
        except CheckoutError as exc:  # the live's lock makes this impossible: fail the batch
            raise RuntimeError(f"deal terms changed under the live's lock: {exc}") from exc
    last = deal.label(chosen)
    before, after = (chosen, []) if last is None else (chosen[: last + 1], chosen[last + 1 :])
    sold_before = sum(a.req.quantity for a in after)
    await _announce(unit, product_id, before,
                    StockLine(product_id, line.stock + sold_before, line.sold - sold_before,
                              line.price_cents, line.currency), lives)  # fmt: skip
    if per_buyer and left == 0:
        await deals.sold_out(session, terms.pin_id)
    if after:
        await _announce(unit, product_id, after, line, lives)
    return chosen, line.stock


class _DealTally:
    """A running deal's units and per-buyer claims, counted in memory while a live's orders
    are decided in arrival order (the same rules as one claim at a time)."""

    def __init__(self, terms: DealTerms, live_id: int) -> None:
        self.terms = terms
        self.live_id = live_id
        self.remaining = terms.remaining
        self.claimed = dict(terms.claimed)
        self.units: dict[int, int] = {}  # attempt id -> deal units it takes

    def running(self) -> bool:
        """Units left and time left (checked per order: a batch can outlast the deal)."""
        ends_at = self.terms.ends_at
        return self.remaining > 0 and (ends_at is None or utcnow() < ends_at)

    @property
    def price_cents(self) -> int:
        return self.terms.unit_price_cents or 0

    def refusal(self, a: _Attempt) -> CheckoutError | None:
        """Why ``a`` cannot have the running deal, if it cannot."""
        q, limit = a.req.quantity, self.terms.per_buyer_limit
        if q > self.remaining:
            return InsufficientStock(f"only {self.remaining} left at the deal price",
                                     available=self.remaining)  # fmt: skip
        if limit is not None and (q > limit or self.claimed.get(a.req.buyer_id, 0) + q > limit):
            return DealLimitExceeded(f"the deal allows {limit} per buyer", limit=limit)
        return None

    def use(self, a: _Attempt) -> None:
        """Count ``a``'s units (bought at the deal price) against the deal."""
        self.units[id(a)] = a.req.quantity
        self.remaining -= a.req.quantity
        self.claimed[a.req.buyer_id] = self.claimed.get(a.req.buyer_id, 0) + a.req.quantity

    def per_buyer(self, chosen: list[_Attempt]) -> dict[int, int]:
        totals: dict[int, int] = {}
        for a in chosen:
            if id(a) in self.units:
                totals[a.req.buyer_id] = totals.get(a.req.buyer_id, 0) + self.units[id(a)]
        return totals

    def label(self, chosen: list[_Attempt]) -> int | None:
        """Each order's stock frame shows the deal units left right after it (0 for the
        order that took the last one, None after it); returns that order's index."""
        left, last = self.terms.remaining, None
        for i, a in enumerate(chosen):
            if last is not None:  # after the deal sold out: no deal any more
                a.deal_left = {self.live_id: None}
                continue
            left -= self.units.get(id(a), 0)
            if left == 0:
                last = i
            a.deal_left = {self.live_id: left}
        return last


async def _stock_now(session: AsyncSession, product_id: int, *, lock: bool = False) -> int:
    """The stock as committed now; ``lock``: and keep it so (PostgreSQL; SQLite's single
    writer already does)."""
    query = select(Product.stock).where(Product.id == product_id)
    if lock:
        query = query.with_for_update()
    return (await session.exec(query)).one()


def _short(product_id: int, available: int) -> InsufficientStock:
    return InsufficientStock(f"only {available} left", product_id=product_id, available=available)


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order as just inserted (an ``OrderLike``): cheaper than an ORM object, and all
    a new order's answer, frame and hand-over to fulfillment need."""

    id: int
    buyer_id: int
    product_id: int
    live_id: int | None
    quantity: int
    unit_price_cents: int
    total_cents: int
    currency: str
    shipping: str
    created_at: datetime
    status: str = OrderStatus.PLACED.value
    payment_status: str = PaymentStatus.AUTHORIZED.value
    carrier: str | None = None
    tracking_number: str | None = None
    return_reason: str | None = None


@dataclass(frozen=True, slots=True)
class NewEvent:
    status: str
    at: datetime
    by: str


async def _record(
    session: AsyncSession, placed: list[_Attempt], render: Render, *, relayed: bool
) -> list[NewOrder]:
    """Insert the orders, their first history entry and outbox rows; store the answers.

    Plain multi-row INSERTs (executemany, compiled once): a flash sale writes many.
    """
    now = utcnow()
    rows = [
        {"buyer_id": a.req.buyer_id, "product_id": a.req.product_id, "live_id": a.req.live_id,
         "pin_id": a.pin_id, "quantity": a.req.quantity, "unit_price_cents": a.unit_price,
         "total_cents": a.unit_price * a.req.quantity, "currency": a.currency,
         "status": OrderStatus.PLACED.value, "payment_status": PaymentStatus.AUTHORIZED.value,
         "payment_ref": a.payment_ref, "restocked": False,
         "shipping": json.dumps(a.req.shipping, separators=(",", ":"), ensure_ascii=False),
         "created_at": now, "updated_at": now}
        for a in placed
    ]  # fmt: skip
    conn = await session.connection()
    orders_t = _table(Order)
    inserted = await conn.execute(
        insert(orders_t).returning(orders_t.c.id, sort_by_parameter_order=True), rows
    )
    ids = [int(i) for i in inserted.scalars().all()]
    await conn.execute(
        insert(_table(OrderEvent)),
        [{"order_id": i, "status": OrderStatus.PLACED.value, "at": now, "by": a.req.buyer_name}
         for i, a in zip(ids, placed, strict=True)],
    )  # fmt: skip
    await conn.execute(
        insert(_table(OutboxEntry)),
        [{"order_id": i, "created_at": now, "relayed_at": now if relayed else None,
          "attempts": 0} for i in ids],
    )  # fmt: skip
    new_orders: list[NewOrder] = []
    answers: list[dict[str, Any]] = []
    for order_id, a, row in zip(ids, placed, rows, strict=True):
        order = NewOrder(
            id=order_id, buyer_id=a.req.buyer_id, product_id=a.req.product_id,
            live_id=a.req.live_id, quantity=a.req.quantity, unit_price_cents=a.unit_price,
            total_cents=a.unit_price * a.req.quantity, currency=a.currency,
            shipping=str(row["shipping"]), created_at=now,
        )  # fmt: skip
        a.history = [NewEvent(OrderStatus.PLACED.value, now, a.req.buyer_name)]
        response = render(order, a.history)
        a.outcome = Placement(order=order, replayed=False, response=response)
        new_orders.append(order)
        answers.append({"b": a.req.buyer_id, "k": a.req.idempotency_key, "o": order_id,
                        "r": response})  # fmt: skip
    keys = _table(IdempotencyRecord)
    await conn.execute(
        update(keys)
        .where(keys.c.buyer_id == bindparam("b"), keys.c.key == bindparam("k"))
        .values(order_id=bindparam("o"), response=bindparam("r")),
        answers,
    )
    return new_orders


def _table(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table
