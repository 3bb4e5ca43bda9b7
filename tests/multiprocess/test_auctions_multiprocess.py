"""Auctions over two app instances sharing a database and Redis, across a restart, and
at the last second (issue #13 item 7; contract: Auctions). Real 5 s clocks; SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.auction_clock import AuctionClock
from app.settings import Settings
from common.times import utcnow
from live import auctions
from tests.auction_helpers import (
    Crowd,
    Planned,
    Stage,
    Tap,
    assert_sold_once,
    bid,
    bidders,
    database,
    parse_utc,
    plan,
    replay,
    tapped,
    two_instances,
    two_processes,
    with_profile,
)
from tests.http_helpers import assert_error
from tests.live_server import ServerProcess, process_env, serve, with_redis
from tests.ws_helpers import Rest, Who, assert_consecutive, rest_for, send

pytestmark = pytest.mark.slow

CONTRACT_ENDED = ("auction_id", "status", "winner", "price_cents")


async def sleep_until(moment: datetime) -> None:
    """Wait for the real clock (what a test of a deadline has to wait for)."""
    await asyncio.sleep(max(0.0, (moment - utcnow()).total_seconds()))


# ---- 1. the last second, two instances


async def test_hundreds_of_last_second_bids_over_two_instances(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    count, waves, extend_s = 60, 12, 3
    planned = plan(count, waves, random.Random(13))
    async with (
        two_processes(settings, redis_url, tmp_path) as (a, b),
        database(settings) as db,
        rest_for(a.url) as rest_a,
        rest_for(b.url) as rest_b,
        contextlib.AsyncExitStack() as stack,
    ):
        stage = await Stage.make(rest_a)
        people = await bidders([rest_a, rest_b], count, made_in=(db, settings.secret_key))
        watchers = [await stack.enter_async_context(tapped(s, stage.live_id)) for s in (a, b)]
        taps = [
            await stack.enter_async_context(tapped((a, b)[i % 2], stage.live_id, who))
            for i, who in enumerate(people)
        ]
        start = await stage.start(duration_s=5, extend_s=extend_s)
        for watcher in watchers:
            await watcher.wait_type("auction_started")
        crowd = Crowd([rest_a, rest_b], people, taps, start["id"])
        ends0 = parse_utc(start["ends_at"])
        # The first wave in the last second; once a bid of it is taken (the soft close
        # has moved the end), the others, 70 ms apart, before the new end.
        await sleep_until(ends0 - timedelta(seconds=1.0))
        pending = await crowd.fire(planned[0])
        await watchers[0].wait_for(lambda f: f["type"] in ("bid", "auction_ended"))
        for wave in planned[1:]:
            pending += await crowd.fire(wave)
            await asyncio.sleep(0.07)  # pacing the load, not synchronisation
        answers = await asyncio.gather(*pending)
        for tap in taps:
            await tap.settled()
        for watcher in watchers:
            await watcher.wait_type("auction_ended", within=extend_s + 10)
        final, history = await stage.read(start["id"])
        check_answers(planned, people, answers, taps, history)

        # The rules, replayed on the accepted bids with the maximums the test sent, agree.
        maxima = {(people[p.bidder]["user"]["id"], p.amount): p.top for wv in planned for p in wv}
        book = replay(start, history, maxima)
        final_ends = parse_utc(final["ends_at"])
        assert book.ends_at == final_ends > ends0  # soft close extended it
        assert all(parse_utc(h["at"]) < final_ends for h in history)
        top = book.ranking[0]
        assert top.max_cents == max(maxima[(h["bidder"]["id"], h["amount_cents"])] for h in history)
        winner = await assert_sold_once(stage, db, start["id"], top.bidder.id)
        assert winner["price_cents"] == book.price_cents

        check_watchers(watchers, history, winner)


def check_watchers(
    watchers: list[Tap], history: list[dict[str, Any]], final: dict[str, Any]
) -> None:
    """Both instances' watchers: the same bid frames, seqs consecutive, as the history
    says, the last with the extended end; then one ``auction_ended``, the next seq."""
    seen = []
    for watcher in watchers:
        frames = watcher.of_type("bid")
        assert_consecutive(frames)
        assert len(frames) == len(history) and frames[-1]["data"]["bids"] == len(history)
        for frame, h in zip(frames, history, strict=True):
            assert frame["data"]["price_cents"] == h["price_cents"]
            assert frame["data"]["leader"]["id"] == h["leader"]
        assert frames[-1]["data"]["ends_at"] == final["ends_at"]
        [end] = watcher.of_type("auction_ended")
        assert end["seq"] == frames[-1]["seq"] + 1
        assert {k: end["data"][k] for k in CONTRACT_ENDED} == {
            "auction_id": final["id"], "status": "sold", "winner": final["winner"],
            "price_cents": final["price_cents"],
        }  # fmt: skip
        assert end["data"].get("passed", []) == []  # the winner paid
        seen.append([(f["seq"], f["data"]) for f in frames])
    assert seen[0] == seen[1]


def check_answers(
    planned: list[list[Planned]],
    people: list[Who],
    answers: list[Any],
    taps: list[Tap],
    history: list[dict[str, Any]],
) -> None:
    """Every bid answered once: taken (in the history) or refused as too low, by REST
    (201 or 409) and by frame (in the history, or one error frame on its socket)."""
    accepted = [(h["bidder"]["id"], h["amount_cents"]) for h in history]
    assert len(set(accepted)) == len(accepted) >= 10, len(accepted)
    rest_sent = [p for wave in planned for p in wave if not p.by_frame]
    for p, resp in zip(rest_sent, answers, strict=True):
        key = (people[p.bidder]["user"]["id"], p.amount)
        if resp.status_code == 201:
            assert key in accepted
        else:
            assert resp.status_code == 409, resp.text
            assert resp.json()["error"]["code"] == "bid_too_low"
            assert key not in accepted
    for i, tap in enumerate(taps):
        errors = [f["data"]["code"] for f in tap.of_type("error")]
        assert set(errors) <= {"bid_too_low"}, errors
        mine = [p for wave in planned for p in wave if p.bidder == i and p.by_frame]
        taken = [p for p in mine if (people[i]["user"]["id"], p.amount) in accepted]
        assert len(taken) + len(errors) == len(mine), (i, errors)


# ---- 2. a restart in the middle


@pytest.mark.one_database  # one server after another: the two-process race below runs on both
async def test_an_auction_that_ended_while_down_closes_once_on_the_first_pass(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(settings) as first, rest_for(first.url) as rest:
        stage = await Stage.make(rest)
        ann = await with_profile(rest, await rest.register("ann"))
        ben = await with_profile(rest, await rest.register("ben"))
        start = await stage.start(duration_s=5, extend_s=3)
        assert (await bid(rest, ann, start["id"], 1_000, 5_000)).status_code == 201
        last = await bid(rest, ben, start["id"], 2_000, 2_500)
        assert last.status_code == 201, last.text
        seq = (await rest.events(stage.live_id))[-1]["seq"]
    ends = parse_utc(last.json()["auction"]["ends_at"])  # as the soft close left it
    assert utcnow() < ends  # stopped while it ran
    await sleep_until(ends + timedelta(seconds=0.2))

    passes: list[int] = []
    closed: list[tuple[int, list[int]]] = []
    run_once, close_due = AuctionClock.run_once, auctions.close_due

    async def counted(self: AuctionClock) -> float:
        passes.append(1)
        return await run_once(self)

    async def recorded(*args: Any, **kwargs: Any) -> list[int]:
        ids = await close_due(*args, **kwargs)
        closed.append((len(passes), ids))
        return ids

    monkeypatch.setattr(AuctionClock, "run_once", counted)
    monkeypatch.setattr(auctions, "close_due", recorded)
    async with (
        serve(settings) as second,
        rest_for(second.url) as rest,
        tapped(second, stage.live_id, after=seq) as tap,
    ):
        stage.rest = rest
        ended = await tap.wait_type("auction_ended")
        assert (ended["seq"], ended["data"]["status"]) == (seq + 1, "sold")
        final = await assert_sold_once(stage, second.state.db, start["id"], ann["user"]["id"])
        assert final["price_cents"] == 2_600
        assert closed[0] == (1, [start["id"]])  # the first pass closed it
        assert [ids for _pass, ids in closed[1:] if ids] == []
        events = await rest.events(stage.live_id, after=seq)
        assert [e["type"] for e in events] == ["auction_ended"]


async def test_a_crashed_server_s_auction_closes_once_when_two_processes_come_back(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    first = ServerProcess(process_env(with_redis(settings, redis_url)), tmp_path)
    await asyncio.to_thread(first.start)
    try:
        async with database(settings) as db, rest_for(first.url, 30) as rest:
            stage = await Stage.make(rest)
            ann, ben = await bidders([rest], 2, "p", made_in=(db, settings.secret_key))
            start = await stage.start(duration_s=5, extend_s=1)
            assert (await bid(rest, ann, start["id"], 1_000, 5_000)).status_code == 201
            assert (await bid(rest, ben, start["id"], 2_000, 2_500)).status_code == 201
            seq = (await rest.events(stage.live_id))[-1]["seq"]
    finally:
        first.stop(signal.SIGKILL)  # a crash, not a shutdown
    ends = parse_utc(start["ends_at"])  # no bid came within extend_s of it
    assert utcnow() < ends
    await sleep_until(ends + timedelta(seconds=0.2))

    async with (
        two_processes(settings, redis_url, tmp_path) as (a, b),
        database(settings) as db,
        rest_for(a.url, 30) as rest,
        tapped(a, stage.live_id, after=seq) as tap_a,
        tapped(b, stage.live_id, after=seq) as tap_b,
    ):
        stage.rest = rest
        for tap in (tap_a, tap_b):
            ended = await tap.wait_type("auction_ended")
            assert (ended["seq"], ended["data"]["winner"]["id"]) == (seq + 1, ann["user"]["id"])
        final = await assert_sold_once(stage, db, start["id"], ann["user"]["id"])
        assert final["price_cents"] == 2_600
        events = await rest.events(stage.live_id, after=seq)
        assert [e["type"] for e in events] == ["auction_ended"]


# ---- 3. a bid racing the close


@dataclass(frozen=True)
class Shot:
    bidder: int
    amount: int
    sent: datetime
    answered: datetime
    status: int
    code: str | None


async def hammer(
    rest: Rest, who: Who, auction_id: int, first: datetime, until: datetime, best: list[int]
) -> list[Shot]:
    """From ``first`` to ``until``, every 0.2 s (within the bid rate limit), bid the least
    that could be taken. A moment missed while an answer was slow is skipped, not caught up
    on: bids never come faster than the limit allows."""
    shots = []
    for k in range(1_000):
        moment = first + timedelta(seconds=0.2 * k)
        if moment >= until:
            break
        if utcnow() > moment + timedelta(seconds=0.1):
            continue
        await sleep_until(moment)
        amount, sent = best[0], utcnow()
        resp = await bid(rest, who, auction_id, amount)
        body = resp.json()
        code = None if resp.status_code == 201 else body["error"]["code"]
        shots.append(Shot(who["user"]["id"], amount, sent, utcnow(), resp.status_code, code))
        if resp.status_code == 201:
            best[0] = max(best[0], body["auction"]["next_min_cents"])
        elif code == "bid_too_low":
            best[0] = max(best[0], body["error"]["next_min_cents"])
    return shots


async def test_bids_racing_a_sudden_death_close(settings: Settings, redis_url: str) -> None:
    async with (
        two_instances(settings, redis_url) as (a, b),
        rest_for(a.url) as rest_a,
        rest_for(b.url) as rest_b,
        contextlib.AsyncExitStack() as stack,
    ):
        stage = await Stage.make(rest_a)
        people = await bidders([rest_a, rest_b], 20)
        room = await stack.enter_async_context(tapped(b, stage.live_id))
        start = await stage.start(duration_s=5, sudden_death=True)
        b.state.auction_clock.poke()
        ends = parse_utc(start["ends_at"])
        best = [start["next_min_cents"]]
        rests = (rest_a, rest_b)
        # From 3 s before the end: on a loaded machine (CI's four workers on two cores) the
        # first batches of two processes sharing SQLite's one writer may take seconds.
        first, until = ends - timedelta(seconds=3), ends + timedelta(seconds=0.5)
        shot_lists = await asyncio.gather(*(
            hammer(rests[i % 2], who, start["id"], first + timedelta(seconds=0.005 * i), until,
                   best)
            for i, who in enumerate(people)
        ))  # fmt: skip
        shots = [s for one in shot_lists for s in one]
        final, history = await stage.read(start["id"])

        assert {(s.status, s.code) for s in shots} <= {
            (201, None), (409, "bid_too_low"), (409, "auction_closed")
        }  # fmt: skip
        took = [s for s in shots if s.status == 201]
        late = [s for s in shots if s.code == "auction_closed"]
        assert took and late and any(s.sent >= ends for s in shots), (ends, shots)
        at = {(h["bidder"]["id"], h["amount_cents"]): parse_utc(h["at"]) for h in history}
        assert len(at) == len(history) == len(took) == final["bids"]
        for s in took:
            assert s.sent < ends and at[(s.bidder, s.amount)] < ends
        first_closed = min(late, key=lambda s: s.answered)
        for s in shots:
            # refused by the server's clock at ends_at or later
            assert s.code != "auction_closed" or s.answered >= ends, (s, ends)
        for s in shots:
            if s.sent >= ends or s.sent > first_closed.answered:
                assert s.code == "auction_closed", (s, first_closed, ends)
        assert parse_utc(final["ends_at"]) == ends  # sudden death: never extended
        assert (await stage.event_types()).count("bid") == len(history)
        await room.wait_type("auction_ended")
        await assert_sold_once(stage, a.state.db, start["id"], history[-1]["leader"])


async def test_a_low_bid_after_the_end_is_auction_closed(
    settings: Settings, redis_url: str
) -> None:
    async with (
        two_instances(settings, redis_url) as (a, b),
        rest_for(a.url) as rest_a,
        rest_for(b.url) as rest_b,
    ):
        stage = await Stage.make(rest_a)
        ann, ben = await bidders([rest_a, rest_b], 2, "p")
        async with tapped(b, stage.live_id) as room:
            start = await stage.start(duration_s=5, sudden_death=True)
            b.state.auction_clock.poke()
            assert (await bid(rest_a, ann, start["id"], 1_000)).status_code == 201
            await room.wait_type("auction_ended")
        # Through B (which took no bid on it) and through A (whose last batch left 1_100).
        for rest in (rest_b, rest_a):
            assert_error(await bid(rest, ben, start["id"], 1_000), 409, "auction_closed")


# ---- 4. outbid across instances


@pytest.mark.one_database  # private frames go through Redis, not the database
async def test_outbid_reaches_the_bidders_sockets_on_the_other_instance(
    settings: Settings, redis_url: str
) -> None:
    async with (
        two_instances(settings, redis_url) as (a, b),
        rest_for(a.url) as rest_a,
        rest_for(b.url) as rest_b,
    ):
        stage = await Stage.make(rest_a)
        ann, ben = await bidders([rest_a, rest_b], 2, "p")
        live_id = stage.live_id
        async with (
            tapped(a, live_id, ann) as ann_a,
            tapped(b, live_id, ann) as ann_b,
            tapped(b, live_id, ben) as ben_b,
            tapped(a, live_id) as room_a,
        ):
            auction = await stage.start(duration_s=60)
            a_id = auction["id"]
            assert (await bid(rest_a, ann, a_id, 1_000)).status_code == 201
            # ben outbids ann through instance B, by frame; ann hears it on A and on B.
            await send(ben_b.ws, {"type": "bid", "auction_id": a_id, "amount_cents": 1_100})
            for tap in (ann_a, ann_b):
                outbid = await tap.wait_type("outbid")
                assert (outbid["seq"], outbid["live_id"]) == (None, live_id)
                assert outbid["data"] == {"auction_id": a_id, "price_cents": 1_100}
            # ann takes the lead back through A's REST; ben hears it on B.
            assert (await bid(rest_a, ann, a_id, 1_200, 5_000)).status_code == 201
            back = await ben_b.wait_type("outbid")
            assert back["data"] == {"auction_id": a_id, "price_cents": 1_200}
            for tap in (ann_a, ann_b, ben_b, room_a):
                await tap.wait_for(lambda f: f["type"] == "bid" and f["data"]["bids"] == 3)
                await tap.settled()
            assert [len(t.of_type("outbid")) for t in (ann_a, ann_b, ben_b, room_a)] == [
                1, 1, 1, 0,
            ]  # fmt: skip
