"""``common.lanes``: group commit by key, without a database."""

from __future__ import annotations

import asyncio

import pytest

from common.lanes import Lanes


class Recorder:
    """A batch runner that records its batches; a batch holding "boom" fails."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[str]]] = []
        self.release = asyncio.Event()

    async def run(self, key: str, items: list[str]) -> list[str]:
        self.batches.append((key, items))
        await self.release.wait()
        if "boom" in items:
            raise RuntimeError("batch failed")
        return [f"{key}:{item}" for item in items]


async def test_items_arriving_during_a_batch_go_together_in_the_next() -> None:
    rec = Recorder()
    lanes: Lanes[str, str, str] = Lanes(rec.run, max_batch=3, name="test")
    first = asyncio.ensure_future(lanes.submit("a", "1"))
    await asyncio.sleep(0)  # the first batch starts with one item
    rest = [asyncio.ensure_future(lanes.submit("a", str(i))) for i in range(2, 7)]
    other = asyncio.ensure_future(lanes.submit("b", "x"))
    await asyncio.sleep(0)
    rec.release.set()
    assert await first == "a:1"
    assert await asyncio.gather(*rest) == [f"a:{i}" for i in range(2, 7)]
    assert await other == "b:x"
    assert rec.batches == [("a", ["1"]), ("b", ["x"]), ("a", ["2", "3", "4"]), ("a", ["5", "6"])]


async def test_a_failed_batch_answers_each_of_its_items_and_only_them() -> None:
    rec = Recorder()
    lanes: Lanes[str, str, str] = Lanes(rec.run, max_batch=10, name="test")
    rec.release.set()
    failed = await asyncio.gather(lanes.submit("a", "boom"), lanes.submit("a", "ok"),
                                  return_exceptions=True)  # fmt: skip
    assert [type(r) for r in failed] == [RuntimeError, RuntimeError]
    assert await lanes.submit("a", "later") == "a:later"  # the lane goes on


async def test_stop_cancels_the_waiting() -> None:
    rec = Recorder()
    lanes: Lanes[str, str, str] = Lanes(rec.run, max_batch=10, name="test")
    waiting = asyncio.ensure_future(lanes.submit("a", "1"))
    await asyncio.sleep(0)
    await lanes.stop()
    with pytest.raises(asyncio.CancelledError):
        await waiting
