"""Bids taken in batches: one transaction per auction at a time, however many arrive.

A bid joins its auction's queue; if no batch is being written for that auction,
one starts. A batch takes every bid queued so far (up to ``max_batch``), in arrival
order, in one transaction (``live.auctions.take_bids``); bids arriving meanwhile
wait for the next one — group commit. In the last seconds of an auction hundreds of
bidders then cost a few transactions a second, not one each, and the order of bids
on one auction is the order this process queued them.

Most bids in a rush offer a price already passed. Each process keeps every
auction's *floor* — the least next bid and the ``ends_at`` it holds until — from
its own batches and from the ``bid`` broadcasts of all processes, and refuses a bid
under it without Redis or the database: when it arrives, and again when its batch
starts. Batches are pipelined: the next one starts as soon as the one before holds
the live's lock, so its own lock request waits in the database and it runs the
moment that one commits.

Guarantees: every bid gets exactly one answer — its ``Accepted`` with the auction
as the batch left it, or the ``LiveError`` refusing it, or the error that failed
its batch (nothing of that batch was written). ``outbid`` frames go out after the
commit, at most once (``live.publisher``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.tasks import cancel_and_wait
from common.times import utcnow
from live import auctions
from live.auction_rules import Accepted
from live.auctions import BidRequest
from live.errors import BidTooLow, LiveError
from live.frames import Frame
from live.publisher import Publisher

log = logging.getLogger("livecart.auctions")


@dataclass(frozen=True)
class BidAnswer:
    accepted: Accepted
    auction: dict[str, Any]  # the auction as the bid's batch left it


_MAX_FLOORS = 10_000
# How the broadcasts that set a floor start (``live.frames``): ``auction_started``, ``bid``.
_FLOOR_FRAMES = ('{"type":"auction_started",', '{"type":"bid",')
_Waiting = tuple[BidRequest, "asyncio.Future[BidAnswer]"]


class BidDesk:
    def __init__(self, publisher: Publisher, *, max_batch: int = 500) -> None:
        self.publisher = publisher
        self.max_batch = max_batch
        self._queues: dict[int, list[_Waiting]] = {}
        self._writers: dict[int, asyncio.Task[None]] = {}
        # The least next bid each auction had after this process's last batch on it, and its
        # ends_at then. Prices only rise and an auction cannot close before its ends_at, so
        # until then a bid under it is too low whatever happened since: refused here, with
        # no transaction (in a rush most bids offer a price already passed). From ends_at on
        # the database answers (auction_closed, or the extended clock).
        self._floors: dict[int, tuple[int, datetime]] = {}
        self._live_of: dict[int, int] = {}  # auction id -> its live's (never changes)
        self._arrived: dict[int, asyncio.Event] = {}  # set when a bid joins the queue
        self._batches: set[asyncio.Task[None]] = set()

    def refuse_if_too_low(self, auction_id: int, amount_cents: int) -> None:
        """Raise ``BidTooLow`` for an amount under the auction's last known next minimum."""
        known = self._floors.get(auction_id)
        if known is None or amount_cents >= known[0] or utcnow() >= known[1]:
            return
        floor = known[0]
        raise BidTooLow(f"the next bid must be at least {floor} cents", next_min_cents=floor)

    def read(self, frames: list[Frame]) -> None:
        """Raise floors from the ``auction_started`` and ``bid`` broadcasts of every process
        (``Fanout.read_along``): a bid another process took makes the bids queued here at
        its price stale at once, refused before their batch rather than by it."""
        for frame in frames:
            if not frame.text.startswith(_FLOOR_FRAMES):
                continue
            try:
                data = json.loads(frame.text)["data"]
                data = data.get("auction", data)  # auction_started: {auction}; bid: flat
                floor = (int(data["next_min_cents"]), datetime.fromisoformat(data["ends_at"]))
                auction_id = int(data["auction_id"])
            except (ValueError, KeyError, TypeError):
                continue  # not ours to judge: the database stays the authority
            self._learn(auction_id, floor)

    def _learn(self, auction_id: int, floor: tuple[int, datetime]) -> None:
        known = self._floors.get(auction_id)
        if known is None or floor[0] >= known[0]:
            if known is None and len(self._floors) >= _MAX_FLOORS:
                self._floors.clear()  # auctions that ended elsewhere: forget all
                self._live_of.clear()
            self._floors[auction_id] = floor

    async def bid(self, auction_id: int, request: BidRequest) -> BidAnswer:
        """Queue a bid and wait for its batch; raises the ``LiveError`` refusing it."""
        self.refuse_if_too_low(auction_id, request.amount_cents)
        answer: asyncio.Future[BidAnswer] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(auction_id, []).append((request, answer))
        if (arrived := self._arrived.get(auction_id)) is not None:
            arrived.set()
        if auction_id not in self._writers:
            self._writers[auction_id] = asyncio.create_task(
                self._write(auction_id), name=f"livecart-bids-{auction_id}"
            )
        return await answer

    async def stop(self) -> None:
        """Cancel the batches being written (their bidders get ``CancelledError``)."""
        await cancel_and_wait([*self._writers.values(), *self._batches], what="bid batches")

    async def _write(self, auction_id: int) -> None:
        """Start the auction's batches one after another. Each starts once the one before
        holds the live's lock: its own lock request then waits in the database and it
        runs the moment that one commits, while that one's answers and broadcasts go out."""
        running: set[asyncio.Task[None]] = set()
        arrived = self._arrived[auction_id] = asyncio.Event()
        try:
            while True:
                queued = self._queues.pop(auction_id, None)
                if not queued:
                    if not running:
                        return
                    arrived.clear()
                    await _first_of(arrived.wait(), *running)
                    continue
                batch, rest = queued[: self.max_batch], queued[self.max_batch :]
                if rest:
                    self._queues[auction_id] = rest + self._queues.get(auction_id, [])
                if batch := self._still_in_time(auction_id, batch):
                    await self._start(auction_id, batch, running)
        finally:
            self._writers.pop(auction_id, None)
            self._arrived.pop(auction_id, None)
            for _request, answer in self._queues.pop(auction_id, []):
                answer.cancel()

    async def _start(
        self, auction_id: int, batch: list[_Waiting], running: set[asyncio.Task[None]]
    ) -> None:
        """Start a batch; return once it holds the live's lock (or is done)."""
        locked = asyncio.Event()
        task = asyncio.create_task(self._one_batch(auction_id, batch, locked.set))
        for tasks in (running, self._batches):
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await _first_of(locked.wait(), task)

    def _still_in_time(self, auction_id: int, waiting: list[_Waiting]) -> list[_Waiting]:
        """Answer now the bids that a price taken since they queued made too low."""
        kept = []
        for request, answer in waiting:
            try:
                self.refuse_if_too_low(auction_id, request.amount_cents)
            except BidTooLow as exc:
                if not answer.done():
                    answer.set_exception(exc)
                continue
            kept.append((request, answer))
        return kept

    async def _one_batch(
        self, auction_id: int, waiting: list[_Waiting], locked: Callable[[], None]
    ) -> None:
        requests = [r for r, _ in waiting]
        live_id = self._live_of.get(auction_id)
        try:
            async with self.publisher.transaction() as tx:
                taken = await auctions.take_bids(
                    tx, auction_id, requests, live_id=live_id, locked=locked
                )
        except Exception as exc:  # nothing of this batch was written: each bidder hears why
            for _request, answer in waiting:
                if not answer.done():
                    answer.set_exception(exc)
            return
        live_id = self._live_of[auction_id] = int(taken.auction["live_id"])
        if taken.auction["status"] == "running":
            ends_at = datetime.fromisoformat(str(taken.auction["ends_at"]))
            self._learn(auction_id, (int(taken.auction["next_min_cents"]), ends_at))
        else:
            self._floors.pop(auction_id, None)
            self._live_of.pop(auction_id, None)
        for (_request, answer), result in zip(waiting, taken.results, strict=True):
            if answer.done():  # its bidder went away
                continue
            if isinstance(result, LiveError):
                answer.set_exception(result)
            else:
                answer.set_result(BidAnswer(result, taken.auction))
        if taken.outbid:
            frames = [
                (user_id, Frame.make("outbid", live_id,
                                     {"auction_id": a_id, "price_cents": price}))
                for user_id, a_id, price in taken.outbid
            ]  # fmt: skip
            await self.publisher.send_private_many(frames)


async def _first_of(*waits: Awaitable[Any]) -> None:
    """Wait until one of ``waits`` is done; cancel the other waits this created."""
    futures = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future, wait in zip(futures, waits, strict=True):
            if future is not wait:
                future.cancel()
