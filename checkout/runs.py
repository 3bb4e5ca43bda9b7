"""Taking stock for a batch's orders, one run of consecutive orders at a time, first
come first served (``checkout.placing``).

- Plain orders (or orders through a live without a deal): the ones that fit have their
  payments authorized concurrently, then one conditional ``UPDATE`` takes their total;
  if the stock moved since it was read, they are chosen again on the stock as it is.
- Orders through one live with a running deal: decided in memory under the live's lock
  (the deal cannot change; the stock is read locked) with the single-order rules, then
  one conditional statement each for the stock, the deal's units and the claims.

Each order gets a ``stock`` event with the figures right after it.
"""

from __future__ import annotations

import asyncio

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout import inventory
from checkout.allocation import Bins
from checkout.attempts import Attempt, Listing, short_of
from checkout.errors import CheckoutError, DealLimitExceeded, InsufficientStock
from checkout.models import Product
from checkout.orders import StockLine, move_stock
from checkout.ports import PaymentProvider, UnitOfWork
from common.deals import DealTerms
from common.times import utcnow


async def _announce(
    unit: UnitOfWork, product_id: int, taken: list[Attempt], line: StockLine, lives: list[int]
) -> None:
    """One ``stock`` event per order, with the figures right after it ("after every
    order"); ``taken`` in the order their units were taken, ending at ``line``."""
    after = sum(a.req.quantity for a in taken)
    figures: list[tuple[int, int, dict[int, int | None] | None]] = []
    for a in taken:
        after -= a.req.quantity
        figures.append((line.stock + after, line.sold - after, a.deal_left))
    await unit.announcer.stock_runs(product_id, figures, lives)


async def _authorize(payments: PaymentProvider, a: Attempt) -> str:
    """Hold ``a``'s total at its price; the reference is the buyer's Idempotency-Key."""
    reference = f"livecart:{a.req.buyer_id}:{a.req.idempotency_key}"
    amount = a.unit_price * a.req.quantity
    if a.req.method is None:  # as before saved methods: a provider may not take the keyword
        return await payments.authorize(amount, a.currency, reference)
    return await payments.authorize(amount, a.currency, reference, method=a.req.method)


def _taken(chosen: list[Attempt]) -> dict[str, int]:
    """Units per warehouse the chosen orders take."""
    taken: dict[str, int] = {}
    for a in chosen:
        taken[a.warehouse] = taken.get(a.warehouse, 0) + a.req.quantity
    return taken


def _fits(chosen: list[Attempt], bins: Bins) -> bool:
    return all(bins.left.get(w, 0) >= n for w, n in _taken(chosen).items())


async def take_run(
    unit: UnitOfWork, run: list[Attempt], listed: Listing, payments: PaymentProvider,
    lives: list[int],
) -> list[Attempt]:  # fmt: skip
    """Plain orders (or orders through a live without a deal), first come first served:
    all the orders that fit in some warehouse, their units in one conditional UPDATE of
    the stock, then their warehouses' allocations. The figures are read without a lock;
    if they moved by the time the stock statement locks the product, the orders are
    chosen again on the figures as they are then (read under that lock)."""
    session, product_id = unit.session, listed.product_id
    bins = await inventory.bins(session, product_id)
    chosen = await _choose(run, listed, payments, bins, {})
    line: StockLine | None = None
    locked = False
    while chosen:
        units = sum(a.req.quantity for a in chosen)
        line = await move_stock(session, product_id, -units)
        if line is None and locked:
            raise RuntimeError(f"product {product_id}: its stock and inventory disagree")
        if line is not None:
            locked = True
            bins = await inventory.bins(session, product_id)  # true until commit now
            if _fits(chosen, bins):
                break
            await move_stock(session, product_id, units)  # chosen on stale figures: again
            line = None
        else:
            bins = await inventory.bins(session, product_id)
        chosen = await _choose(run, listed, payments, bins, {id(a): a for a in chosen})
    for warehouse, units in _taken(chosen).items():  # what is left after them
        bins.left[warehouse] -= units
    picked = {id(a) for a in chosen}
    for a in run:
        if a.outcome is None and id(a) not in picked:
            a.outcome = short_of(product_id, bins, a.req.quantity)
    if line is not None:
        await inventory.allocate(session, product_id, _taken(chosen))
        await _announce(unit, product_id, chosen, line, lives)
    return chosen


async def _choose(
    run: list[Attempt], listed: Listing, payments: PaymentProvider, bins: Bins,
    held: dict[int, Attempt],
) -> list[Attempt]:  # fmt: skip
    """The orders that get units, in arrival order: each that fits in some warehouse
    (``Attempt.place_in``), with its payment authorized. Authorizations run concurrently
    (a real provider is a network call, and this transaction holds locks meanwhile); a
    declined order's units go to the next in line. ``held``: orders authorized before,
    kept if they still fit and voided if not (a second pass after the figures moved).
    ``bins`` is taken from as orders are chosen."""
    chosen: list[Attempt] = []
    seen: set[int] = set()
    dropped: list[Attempt] = []
    while True:
        trial, wave = bins.copy(), []
        for a in run:
            if id(a) not in seen and a.outcome is None and trial.take(a.req.quantity, a.country):
                wave.append(a)
        if not wave:
            break
        fresh = [a for a in wave if id(a) not in held]
        for a in fresh:
            a.unit_price, a.currency = listed.price_cents, listed.currency
        refs = await asyncio.gather(
            *(_authorize(payments, a) for a in fresh), return_exceptions=True
        )
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
                # The declined ones may have changed the choice: rarely, it fits no more.
                (chosen if a.place_in(bins) else dropped).append(a)
        if failure is not None:  # the provider failed: the whole batch fails
            raise failure
    picked = {id(a) for a in chosen}
    for a in [*held.values(), *dropped]:
        if id(a) not in picked:
            await payments.void(a.payment_ref)
    order = {id(a): i for i, a in enumerate(run)}
    return sorted(chosen, key=lambda a: order[id(a)])


async def take_live_run(
    unit: UnitOfWork, run: list[Attempt], listed: Listing, payments: PaymentProvider,
    lives: list[int],
) -> list[Attempt]:  # fmt: skip
    """Orders through one live, first come first served. The live's lock is held, so its
    deal terms hold until commit; the product's stock is read locked, and with it what
    each warehouse can sell. The orders are decided one by one with the single-order
    rules, then their units go in one statement each for stock and deal (and one per
    warehouse); the deal's ``sold_out`` comes right after the stock event of the order
    that took its last unit."""
    session, deals, product_id = unit.session, unit.deals, listed.product_id
    live_id = run[0].req.live_id or 0
    terms = await deals.terms(session, live_id, product_id, [a.req.buyer_id for a in run])
    await stock_now(session, product_id, lock=True)
    bins = await inventory.bins(session, product_id)
    for a in run:
        a.pin_id = terms.pin_id
    if terms.price_cents is None or terms.pin_id is None:  # no deal: the list price
        return await take_run(unit, run, listed, payments, lives)
    deal = _DealTally(terms, live_id)
    chosen: list[Attempt] = []
    for a in run:
        on_deal = deal.running()  # decided once per order: the clock may pass its end
        refusal: CheckoutError | None = None
        if bins.pick(a.req.quantity, a.country) is None:
            refusal = short_of(product_id, bins, a.req.quantity)
        elif on_deal:
            refusal = deal.refusal(a)
        if refusal is not None:
            a.outcome = refusal
            continue
        a.unit_price = deal.price_cents if on_deal else listed.price_cents
        a.currency = listed.currency
        try:
            a.payment_ref = await _authorize(payments, a)
        except CheckoutError as exc:  # declined: what it would have taken stays
            a.outcome = exc
            continue
        a.place_in(bins)
        if on_deal:
            deal.use(a)
        chosen.append(a)
    if not chosen:
        return []
    await _apply_live(unit, chosen, deal, lives)
    return chosen


async def _apply_live(
    unit: UnitOfWork, chosen: list[Attempt], deal: _DealTally, lives: list[int]
) -> None:
    """Write a live run's decisions: stock, allocations, the deal's units, the events."""
    session, deals, product_id = unit.session, unit.deals, chosen[0].req.product_id
    line = await move_stock(session, product_id, -sum(a.req.quantity for a in chosen))
    if line is None:  # read locked a moment ago: cannot happen; fail rather than guess
        raise RuntimeError("the product's stock moved under its lock")
    await inventory.allocate(session, product_id, _taken(chosen))
    per_buyer = deal.per_buyer(chosen)
    if per_buyer:
        try:
            left = await deals.take(deal.live_id, deal.terms.pin_id or 0, per_buyer)
        except CheckoutError as exc:  # the live's lock makes this impossible: fail the batch
            raise RuntimeError(f"deal terms changed under the live's lock: {exc}") from exc
    last = deal.label(chosen)
    before, after = (chosen, []) if last is None else (chosen[: last + 1], chosen[last + 1 :])
    sold_before = sum(a.req.quantity for a in after)
    await _announce(unit, product_id, before,
                    StockLine(product_id, line.stock + sold_before, line.sold - sold_before,
                              line.price_cents, line.currency), lives)  # fmt: skip
    if per_buyer and left == 0:
        await deals.sold_out(deal.terms.pin_id or 0)
    if after:
        await _announce(unit, product_id, after, line, lives)


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
        return self.terms.price_cents or 0

    def refusal(self, a: Attempt) -> CheckoutError | None:
        """Why ``a`` cannot have the running deal, if it cannot."""
        q, limit = a.req.quantity, self.terms.per_buyer_limit
        if q > self.remaining:
            return InsufficientStock(f"only {self.remaining} left at the deal price",
                                     available=self.remaining)  # fmt: skip
        if limit is not None and (q > limit or self.claimed.get(a.req.buyer_id, 0) + q > limit):
            return DealLimitExceeded(f"the deal allows {limit} per buyer", limit=limit)
        return None

    def use(self, a: Attempt) -> None:
        """Count ``a``'s units (bought at the deal price) against the deal."""
        self.units[id(a)] = a.req.quantity
        self.remaining -= a.req.quantity
        self.claimed[a.req.buyer_id] = self.claimed.get(a.req.buyer_id, 0) + a.req.quantity

    def per_buyer(self, chosen: list[Attempt]) -> dict[int, int]:
        totals: dict[int, int] = {}
        for a in chosen:
            if id(a) in self.units:
                totals[a.req.buyer_id] = totals.get(a.req.buyer_id, 0) + self.units[id(a)]
        return totals

    def label(self, chosen: list[Attempt]) -> int | None:
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


async def stock_now(session: AsyncSession, product_id: int, *, lock: bool = False) -> int:
    """The stock as committed now; ``lock``: and keep it so (PostgreSQL; SQLite's single
    writer already does)."""
    query = select(Product.stock).where(Product.id == product_id)
    if lock:
        query = query.with_for_update()
    return (await session.exec(query)).one()
