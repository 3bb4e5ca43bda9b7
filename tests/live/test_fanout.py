"""The fan-out of broadcast frames (``live.fanout``) and the bid desk's floors learnt from
them (``live.bid_desk``), on their own: recording sinks, no sockets, no database."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import Any

import pytest

from common.times import iso_utc, utcnow
from live.auction_rules import Bidder
from live.auctions import BidRequest
from live.bid_desk import BidDesk
from live.channel import Channel
from live.errors import BidTooLow
from live.fanout import Fanout
from live.frames import Frame
from live.publisher import Publisher
from live.served import ServedLive, Viewer

LIVE = 3


class Recorder:
    """A sink that keeps each offer as one write: the seqs it carried (None: a reply)."""

    def __init__(self, refuse: bool = False) -> None:
        self.writes: list[list[int | None]] = []
        self.refuse = refuse

    def offer(self, frame: Frame, *, backlog: bool = False) -> bool:
        self.writes.append([frame.seq])
        return not self.refuse

    def offer_all(self, frames: Sequence[Frame], wire: bytes) -> bool:
        assert wire == b"".join(f.wire for f in frames)
        self.writes.append([f.seq for f in frames])
        return not self.refuse

    def close(self, code: int, reason: str = "") -> None:
        return None

    def seqs(self) -> list[int | None]:
        return [seq for write in self.writes for seq in write]


class Rig:
    def __init__(self, viewers: int, slice_size: int = 500) -> None:
        self.tasks: list[asyncio.Task[None]] = []
        self.refused: list[Viewer] = []
        self.fanout = Fanout(self._spawn, self.refused.append, slice_size=slice_size)
        self.live = ServedLive(Channel(LIVE))
        self.sinks = [Recorder() for _ in range(viewers)]
        self.viewers = [Viewer(LIVE, None, sink) for sink in self.sinks]
        for viewer in self.viewers:
            self.live.add(viewer)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self.tasks.append(asyncio.ensure_future(coro))

    async def drained(self) -> None:
        while not all(task.done() for task in self.tasks):
            await asyncio.gather(*self.tasks)


def frames(*seqs: int) -> list[Frame]:
    return [Frame.make("chat", LIVE, {"n": seq}, seq=seq) for seq in seqs]


async def test_frames_pushed_before_a_pass_runs_go_out_as_one_write() -> None:
    rig = Rig(viewers=3)
    rig.fanout.push(rig.live, frames(1))
    rig.fanout.push(rig.live, frames(2, 3))
    await rig.drained()
    assert [sink.writes for sink in rig.sinks] == [[[1, 2, 3]]] * 3
    assert not rig.live.pumping and rig.live.outbox == []


async def test_frames_pushed_during_a_pass_reach_everyone_once_in_order() -> None:
    rig = Rig(viewers=5, slice_size=2)
    rig.fanout.push(rig.live, frames(1))
    await asyncio.sleep(0)  # the pass has written its first slice
    behind = [sink for sink in rig.sinks if sink.writes]
    assert len(behind) == 2
    rig.fanout.push(rig.live, frames(2))
    rig.fanout.push(rig.live, frames(3))
    await rig.drained()
    for sink in rig.sinks:  # the viewers ahead of the pass got all three in one write;
        # those it had passed got the two new ones in the next pass
        assert sink.writes == ([[1], [2, 3]] if sink in behind else [[1, 2, 3]])


async def test_a_pass_yields_between_slices() -> None:
    rig = Rig(viewers=6, slice_size=2)
    written_when: list[int] = []

    async def other_work() -> None:
        for _ in range(3):
            written_when.append(sum(1 for sink in rig.sinks if sink.writes))
            await asyncio.sleep(0)

    rig.fanout.push(rig.live, frames(1))
    await asyncio.gather(other_work(), rig.drained())
    assert written_when == [2, 4, 6]  # other work ran after each slice, not after all six


async def test_a_viewer_gets_only_what_is_above_its_floor() -> None:
    rig = Rig(viewers=2)
    rig.viewers[1].floor = 2  # joined with a snapshot at seq 2
    rig.fanout.push(rig.live, frames(1, 2, 3))
    await rig.drained()
    assert rig.sinks[0].writes == [[1, 2, 3]]
    assert rig.sinks[1].writes == [[3]]
    assert [v.floor for v in rig.viewers] == [3, 3]


async def test_a_viewer_whose_sink_refuses_is_handed_over_and_closed_ones_skipped() -> None:
    rig = Rig(viewers=3)
    rig.sinks[0].refuse = True
    rig.viewers[2].closed = True
    rig.fanout.push(rig.live, frames(1))
    await rig.drained()
    assert rig.refused == [rig.viewers[0]]
    assert rig.sinks[1].writes == [[1]] and rig.sinks[2].writes == []


async def test_a_reply_follows_the_broadcasts_still_waiting_for_its_viewer() -> None:
    rig = Rig(viewers=4, slice_size=1)
    rig.fanout.push(rig.live, frames(1, 2))
    await asyncio.sleep(0)  # first slice written; the others still wait for 1 and 2
    late = next(i for i, sink in enumerate(rig.sinks) if not sink.writes)
    rig.fanout.push(rig.live, frames(3))
    assert rig.fanout.offer(rig.live, rig.viewers[late], Frame.make("pong", LIVE, {}))
    assert rig.sinks[late].writes == [[1, 2, 3], [None]]
    await rig.drained()
    for i, sink in enumerate(rig.sinks):  # the passes did not write them to it again
        assert sink.seqs() == ([1, 2, 3, None] if i == late else [1, 2, 3])


async def test_readers_see_every_frame_in_order() -> None:
    rig = Rig(viewers=0)
    seen: list[int | None] = []
    rig.fanout.read_along(lambda fs: seen.extend(f.seq for f in fs))
    rig.fanout.push(rig.live, frames(1, 2))
    rig.fanout.push(rig.live, frames(3))
    await rig.drained()
    assert seen == [1, 2, 3]


# ---- the bid desk's floors


class NoDatabase:
    """Sessions that fail the test if a bid reaches the database."""

    def write(self) -> Any:
        raise AssertionError("this bid should have been refused before any transaction")

    read = snapshot = write


class NoBroker:
    async def publish(self, channel: str, text: str) -> None:
        return None

    async def publish_many(self, items: list[tuple[str, str]]) -> None:
        return None


def bid_frame(auction_id: int, next_min: int, ends_in_s: float, seq: int = 1) -> Frame:
    data = {"auction_id": auction_id, "price_cents": next_min - 100, "next_min_cents": next_min,
            "leader": {"id": 9, "username": "vera"}, "bids": 1,
            "ends_at": iso_utc(utcnow() + timedelta(seconds=ends_in_s))}  # fmt: skip
    return Frame.make("bid", LIVE, data, seq=seq)


def request(amount: int) -> BidRequest:
    return BidRequest(Bidder(5, "walt"), amount, None)


@pytest.fixture
def desk() -> BidDesk:
    return BidDesk(Publisher(NoBroker(), NoDatabase()))


async def test_a_bid_broadcast_from_any_process_refuses_lower_bids_here(desk: BidDesk) -> None:
    desk.read([*frames(1), bid_frame(11, next_min=2_500, ends_in_s=30, seq=2)])
    with pytest.raises(BidTooLow) as refused:
        await desk.bid(11, request(2_400))
    assert refused.value.data["next_min_cents"] == 2_500
    # A lower floor heard later (an older frame, another auction) does not lower it.
    desk.read([bid_frame(11, next_min=1_200, ends_in_s=30, seq=3)])
    with pytest.raises(BidTooLow):
        await desk.bid(11, request(2_400))
    with pytest.raises(AssertionError, match="refused before any transaction"):
        await desk.bid(12, request(2_400))  # nothing known about auction 12: to the database


async def test_a_floor_holds_only_until_the_ends_at_it_was_heard_with(desk: BidDesk) -> None:
    desk.read([bid_frame(11, next_min=2_500, ends_in_s=-1)])
    with pytest.raises(AssertionError, match="refused before any transaction"):
        await desk.bid(11, request(2_000))  # past ends_at: only the database may answer


async def test_bids_queued_before_a_floor_rose_are_refused_when_their_batch_starts(
    desk: BidDesk,
) -> None:
    bids = [asyncio.ensure_future(desk.bid(11, request(amount))) for amount in (2_000, 2_100)]
    await asyncio.sleep(0)  # both queued; their batch has not started
    desk.read([bid_frame(11, next_min=2_500, ends_in_s=30)])
    for outcome in await asyncio.gather(*bids, return_exceptions=True):
        assert isinstance(outcome, BidTooLow), outcome
        assert outcome.data["next_min_cents"] == 2_500


async def test_a_pass_that_fails_is_logged_and_the_next_frames_still_go_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(viewers=1)
    seen: list[int | None] = []
    rig.fanout.read_along(lambda fs: seen.extend(f.seq for f in fs))
    broken = rig.sinks[0]
    real = broken.offer_all

    def fails_once(frames: Sequence[Frame], wire: bytes) -> bool:
        broken.offer_all = real  # type: ignore[method-assign]
        raise RuntimeError("a sink's bug")

    broken.offer_all = fails_once  # type: ignore[method-assign]
    rig.fanout.push(rig.live, frames(1))
    await rig.drained()
    rig.fanout.push(rig.live, frames(2))
    await rig.drained()
    assert "fan-out to live 3 failed" in caplog.text
    assert broken.seqs() == [2]
    assert seen == [1, 2]  # readers saw each frame once
    assert not rig.live.pumping and rig.live.outbox == []
