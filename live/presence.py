"""Presence: who watches a live, counted the way a creator means "viewers".

- One account counts once, however many tabs, devices or processes it watches from.
- The live's own creator and its moderators (in the studio) are not viewers.
- Anonymous sockets count one each (they cannot be told apart; the per-address
  socket cap bounds how far one client can inflate the count).
- A viewer who leaves stops counting at the next presence tick of its process.

Each process tallies its own sockets per live (``tally``), reports the tally to
the broker, and learns the total over all processes (``Broker.report_presence``
dedupes accounts across processes). The hub sends the new total to its viewers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from itertools import chain, repeat
from typing import TypeVar

from sqlmodel import col, update

from common.tasks import loop_step
from live.fanout import SLICE_SIZE
from live.frames import Frame
from live.models import Live
from live.served import ServedLive, Sessions, Viewer

log = logging.getLogger("livecart.presence")
T = TypeVar("T")


@dataclass(frozen=True)
class LocalPresence:
    """One process's watchers of one live: anonymous sockets and distinct accounts."""

    anonymous: int = 0
    users: frozenset[int] = frozenset()

    @property
    def count(self) -> int:
        return self.anonymous + len(self.users)

    @property
    def empty(self) -> bool:
        return not self.anonymous and not self.users


EMPTY = LocalPresence()


def tally(user_ids: Iterable[int | None], is_staff: Callable[[int], bool]) -> LocalPresence:
    """The presence of sockets whose accounts are ``user_ids`` (None = anonymous)."""
    anonymous = 0
    users: set[int] = set()
    for user_id in user_ids:
        if user_id is None:
            anonymous += 1
        elif not is_staff(user_id):
            users.add(user_id)
    return LocalPresence(anonymous, frozenset(users))


async def lookup(asked: Awaitable[T], otherwise: T) -> T:
    """A presence question to the broker; ``otherwise`` (logged) when it cannot answer."""
    try:
        return await asked
    except Exception as exc:
        log.warning("presence lookup failed: %r", exc)
        return otherwise


async def every(interval: float, tick: Callable[[], Awaitable[None]], what: str) -> None:
    """Run ``tick`` every ``interval`` seconds until cancelled; a failed tick is logged
    and the next one runs on time."""
    while True:
        await asyncio.sleep(interval)
        await loop_step(tick, what, log)


def tally_live(live: ServedLive) -> LocalPresence:
    """This process's watchers of ``live`` (its creator and moderators left out), from its
    sockets per account: one entry per account, not per socket."""
    anonymous = live.sockets_of.get(None, 0)
    accounts = (uid for uid in live.sockets_of if uid is not None)
    return tally(chain(repeat(None, anonymous), accounts), live.is_staff)


Report = Callable[[dict[int, LocalPresence]], Awaitable[dict[int, int]]]
"""Reports this process's watchers, answers the totals (``Broker.report_presence``)."""


async def tick(
    lives: dict[int, ServedLive],
    reported: set[int],
    report: Report,
    offer: Callable[[Viewer, Frame], None],
    sessions: Sessions,
) -> None:
    """One tick of a process's presence: report its watchers of ``lives`` (and an empty
    tally for each live in ``reported`` it no longer serves), learn the totals, ``offer``
    a ``viewers`` frame where a total changed and to joiners who saw another count, and
    record new peaks. ``reported`` becomes the lives reported with watchers."""
    local = {live_id: tally_live(live) for live_id, live in lives.items()}
    for gone in reported - local.keys():
        local[gone] = EMPTY
    if not local:
        return
    totals = await report(local)
    reported.clear()
    reported.update(live_id for live_id, here in local.items() if not here.empty)
    peaks: dict[int, int] = {}
    for live_id, total in totals.items():
        live = lives.get(live_id)
        if live is None:
            continue
        live.total = total
        if total != live.announced:
            live.announced = total
            frame = live.announcement = Frame.make("viewers", live_id, {"count": total})
            await offer_each(list(live.viewers), frame, offer)
        for viewer in unsettled(live, total):
            offer(viewer, Frame.make("viewers", live_id, {"count": total}))
        if total > live.peak:
            live.peak = peaks[live_id] = total
    if peaks:
        await record_peaks(sessions, peaks)


async def offer_each(
    viewers: list[Viewer], frame: Frame, offer: Callable[[Viewer, Frame], None]
) -> None:
    """``frame`` to each viewer, yielding to the event loop between slices as the fan-out
    does (``live.fanout``): a count for 10,000 viewers must not hold the process."""
    for i, viewer in enumerate(viewers):
        if i and i % SLICE_SIZE == 0:
            await asyncio.sleep(0)
        offer(viewer, frame)


def unsettled(live: ServedLive, total: int) -> list[Viewer]:
    """Viewers who joined since the last tick with a snapshot count other than ``total``:
    they are told the total now, even when it did not change for the others."""
    told = [v for v, count in live.joiners if count != total and v in live.viewers]
    live.joiners.clear()
    return told


async def record_peaks(sessions: Sessions, peaks: dict[int, int]) -> None:
    """Raise each live's stored ``peak_viewers`` to at least the given peak."""
    async with sessions.write() as session:
        for live_id, peak in peaks.items():
            await session.exec(
                update(Live)
                .where(col(Live.id) == live_id, col(Live.peak_viewers) < peak)
                .values(peak_viewers=peak)
            )
