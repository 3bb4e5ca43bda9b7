"""Group commit by key: items queued under one key go to the database together.

An item joins its key's queue; if no batch is being run for that key, one starts and
takes every item queued so far (up to ``max_batch``), in arrival order. Items arriving
meanwhile wait for the next batch. Used where many requests in the same second write
to one row's neighbourhood (a live's chat, a product's waitlist): a few transactions
instead of one each, queued on a lock with a connection held.

Guarantees: every item gets exactly one answer — its result from the batch, or the
exception that failed the batch; one batch per key at a time, in arrival order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from common.tasks import cancel_and_wait

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

Run = Callable[[K, list[T]], Awaitable[list[R]]]
"""Runs one batch of a key: one result per item, in order (or raises for all)."""


class Lanes(Generic[K, T, R]):
    def __init__(self, run: Run[K, T, R], *, max_batch: int, name: str) -> None:
        self._run = run
        self.max_batch = max_batch
        self.name = name
        self._queues: dict[K, list[tuple[T, asyncio.Future[R]]]] = {}
        self._runners: dict[K, asyncio.Task[None]] = {}

    async def submit(self, key: K, item: T) -> R:
        """Queue ``item`` under ``key`` and wait for its batch's result for it."""
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, []).append((item, answer))
        if key not in self._runners:
            self._runners[key] = asyncio.create_task(
                self._drain(key), name=f"livecart-{self.name}-{key}"
            )
        return await answer

    async def stop(self) -> None:
        """Cancel the batches being run (their callers get ``CancelledError``)."""
        await cancel_and_wait(list(self._runners.values()), what=f"{self.name} batches")
        for queued in self._queues.values():  # a runner cancelled before it ever ran
            for _item, answer in queued:
                answer.cancel()
        self._queues.clear()

    async def _drain(self, key: K) -> None:
        try:
            while queued := self._queues.pop(key, None):
                batch, rest = queued[: self.max_batch], queued[self.max_batch :]
                if rest:
                    self._queues[key] = rest + self._queues.get(key, [])
                await self._one(key, batch)
        finally:
            self._runners.pop(key, None)
            for _item, answer in self._queues.pop(key, []):
                answer.cancel()

    async def _one(self, key: K, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run(key, [item for item, _answer in batch])
        except asyncio.CancelledError:  # stopping: its callers are cancelled too
            for _item, answer in batch:
                answer.cancel()
            raise
        except Exception as exc:  # nothing of this batch was written: each caller hears why
            for _item, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for (_item, answer), result in zip(batch, results, strict=True):
            if not answer.done():
                answer.set_result(result)
