"""The order desk: concurrent orders for one product are placed together.

In a flash sale thousands of buyers ask for the same product in the same
second. Placed one transaction each, they would queue on the product's stock
row, every one holding a database connection while it waits. The desk keeps
one lane per product in each process instead: requests that arrive while a
batch is in the database wait in memory, and go together in the next batch
(``checkout.placing.place_batch``: one transaction, one commit).

Guarantees:

- Within a process, requests for a product are decided in arrival order
  (first come, first served). Across processes the database decides.
- Two requests with one Idempotency-Key never share a batch: the later one
  waits for the next batch and is answered with the first one's order.
- A request whose caller goes away (a dropped connection) is still decided;
  a retry with its key gets that answer.
- Nothing is oversold and nothing is half-written: those come from the
  statements in ``checkout.placing``, not from this in-memory queueing, so
  they hold across any number of processes.

No backpressure beyond the database: a lane grows as fast as requests arrive
(each request is a few hundred bytes) and drains a batch of up to
``max_batch`` per transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from checkout.errors import CheckoutError
from checkout.metrics import count_orders
from checkout.orders import OrderLike, OrderRequest, Placement
from checkout.placing import NothingToKeep, Outcome, Render, place_batch
from checkout.ports import PaymentProvider, SavedMethod, Transactions
from common.tasks import STOP_WAIT_S, cancel_and_wait

log = logging.getLogger("livecart.checkout")

OnPlaced = Callable[[Sequence[OrderLike]], Awaitable[None]]
"""Called after a batch committed, with its new orders (to hand them to fulfillment)."""

_Waiting = tuple[OrderRequest, "asyncio.Future[Outcome]"]


@dataclass
class _Lane:
    waiting: deque[_Waiting] = field(default_factory=deque)
    runner: asyncio.Task[None] | None = None


class OrderDesk:
    """Places orders (``place``), batching the concurrent ones per product."""

    def __init__(
        self,
        transactions: Transactions,
        payments: PaymentProvider,
        render: Render,
        *,
        relayed: bool,
        on_placed: OnPlaced,
        max_batch: int = 200,
    ) -> None:
        self.transactions = transactions
        self.payments = payments
        self.render = render
        self.relayed = relayed
        self.on_placed = on_placed
        self.max_batch = max_batch
        self._lanes: dict[int, _Lane] = {}
        self._handing: set[asyncio.Task[None]] = set()

    async def place(self, req: OrderRequest) -> Placement:
        """Place ``req`` or replay its key's order; raises the ``CheckoutError`` refusing it."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        lane = self._lanes.setdefault(req.product_id, _Lane())
        lane.waiting.append((req, future))
        if lane.runner is None:
            lane.runner = asyncio.create_task(
                self._drain(req.product_id, lane), name=f"livecart-orders-{req.product_id}"
            )
        # Not shielded: if this caller goes away, its request is still decided (it is in
        # the lane); only the answer has nowhere to go.
        outcome = await future
        if isinstance(outcome, CheckoutError):
            raise outcome
        return outcome

    async def close(self) -> None:
        """Wait for the batches in flight and their hand-overs (at shutdown), at most
        ``STOP_WAIT_S`` seconds; then cancel them (an uncommitted batch rolls back, its
        buyers got no answer) and wait as long again at most (``cancel_and_wait``)."""
        busy = [lane.runner for lane in self._lanes.values() if lane.runner is not None]
        busy += list(self._handing)
        if busy:
            await asyncio.wait(busy, timeout=STOP_WAIT_S)
            await cancel_and_wait(busy, what="order batches")

    async def _drain(self, product_id: int, lane: _Lane) -> None:
        try:
            while lane.waiting:
                batch = self._next_batch(lane)
                started = time.perf_counter()
                early: dict[int, Outcome] = {}  # decided before the batch's commit
                try:
                    outcomes, placed = await self._place(batch, early)
                    for (_, future), outcome in zip(batch, outcomes, strict=True):
                        _settle(future, outcome)
                except BaseException as exc:  # the batch failed: its undecided requests too
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc if isinstance(exc, Exception) else _stopped())
                    count_orders(early.values(), failed=len(batch) - len(early))
                    if not isinstance(exc, Exception):
                        raise
                    log.warning("product %d: a batch of %d orders failed: %r",
                                product_id, len(batch), exc)  # fmt: skip
                    continue
                count_orders(outcomes)
                log.debug(
                    "product %d: %d orders decided (%d placed) in %.1f ms; %d waiting",
                    product_id, len(batch), len(placed), (time.perf_counter() - started) * 1000,
                    len(lane.waiting),
                )  # fmt: skip
                if placed:  # committed and answered; fulfillment must not hold up the lane
                    task = asyncio.create_task(self._hand_over(placed))
                    self._handing.add(task)
                    task.add_done_callback(self._handing.discard)
        finally:
            lane.runner = None
            if lane.waiting:  # cancelled with requests left: fail them, do not strand them
                for _, future in lane.waiting:
                    if not future.done():
                        future.set_exception(_stopped())
                count_orders((), failed=len(lane.waiting))
                lane.waiting.clear()
            if self._lanes.get(product_id) is lane:
                del self._lanes[product_id]

    def _next_batch(self, lane: _Lane) -> list[_Waiting]:
        """Up to ``max_batch`` waiting requests, in arrival order, one per Idempotency-Key."""
        batch: list[_Waiting] = []
        later: list[_Waiting] = []
        keys: set[tuple[int, str]] = set()
        while lane.waiting and len(batch) < self.max_batch:
            item = lane.waiting.popleft()
            pair = (item[0].buyer_id, item[0].idempotency_key)
            if pair in keys:
                later.append(item)
            else:
                keys.add(pair)
                batch.append(item)
        lane.waiting.extendleft(reversed(later))
        return batch

    async def _place(
        self, batch: list[_Waiting], early: dict[int, Outcome]
    ) -> tuple[list[Outcome], Sequence[OrderLike]]:
        """Place ``batch``; ``early`` collects the outcomes answered before the commit."""
        holds = _Holds(self.payments)

        def settle(i: int, outcome: Outcome) -> None:
            early[i] = outcome
            _settle(batch[i][1], outcome)

        try:
            async with self.transactions() as unit:
                try:
                    result = await place_batch(
                        unit, [req for req, _ in batch], payments=holds, render=self.render,
                        relayed=self.relayed, settle=settle,
                    )  # fmt: skip
                except BaseException:  # nothing of this batch will commit: let its payments go
                    # Shielded: a batch cancelled at shutdown still voids what it authorized.
                    await asyncio.shield(asyncio.ensure_future(holds.release()))
                    raise
        except NothingToKeep as nothing:  # rolled back: only refusals and replays
            return nothing.result.outcomes, []
        # (A failed COMMIT leaves its authorizations to expire at the provider: whether
        # it committed cannot be known here, and voiding a placed order's would be worse.)
        return result.outcomes, result.placed

    async def _hand_over(self, placed: Sequence[OrderLike]) -> None:
        try:
            await self.on_placed(placed)
        except Exception:  # committed already: the outbox relay takes them later
            log.exception("handing %d new orders to fulfillment failed", len(placed))


class _Holds:
    """The ``PaymentProvider`` for one batch: remembers the authorizations not yet voided,
    so a batch that fails can release them."""

    def __init__(self, provider: PaymentProvider) -> None:
        self.provider = provider
        self.held: set[str] = set()

    async def save_method(self, token: str, customer: str | None, account: str) -> SavedMethod:
        return await self.provider.save_method(token, customer, account)

    async def authorize(
        self, amount_cents: int, currency: str, reference: str, *,
        method: SavedMethod | None = None,
    ) -> str:  # fmt: skip
        if method is None:
            payment_ref = await self.provider.authorize(amount_cents, currency, reference)
        else:
            payment_ref = await self.provider.authorize(
                amount_cents, currency, reference, method=method
            )
        self.held.add(payment_ref)
        return payment_ref

    async def capture(self, payment_ref: str) -> None:
        await self.provider.capture(payment_ref)

    async def void(self, payment_ref: str) -> None:
        await self.provider.void(payment_ref)
        self.held.discard(payment_ref)

    async def refund(self, payment_ref: str) -> None:
        await self.provider.refund(payment_ref)

    async def release(self) -> None:
        for payment_ref in sorted(self.held):
            try:
                await self.void(payment_ref)
            except Exception:  # the provider lets it expire instead
                log.exception("could not void authorization %s", payment_ref)


def _settle(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)


def _stopped() -> RuntimeError:
    return RuntimeError("the order desk stopped before deciding this order")
