"""Ship-by dates (sans-I/O): an order is due to ship a number of business days after it
was placed, skipping weekends and the shipping country's public holidays (the
maintained ``holidays`` package; a country it does not know gets weekends only).

The time of day is kept: an order placed on Friday at 10:00 with two business days is
due on Tuesday at 10:00 (Monday at 10:00 is one). Days are counted in UTC. An order is
``late`` when it was not shipped by its ship-by time: still unshipped after it, or
shipped after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays

from common.times import utc

DEFAULT_DAYS = 2
UNSHIPPED = frozenset({"placed", "accepted", "picking", "packed"})


@lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> frozenset[date]:
    try:
        found = holidays.country_holidays(country, years=year)
    except NotImplementedError:  # a country the package does not know: weekends only
        return frozenset()
    return frozenset(found)


def is_business_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(country, day.year)


@dataclass(frozen=True)
class Calendar:
    """How long orders have to ship: ``days`` business days, in ``country`` (the
    warehouse's; ``MAIN``'s until orders are allocated to warehouses)."""

    days: int = DEFAULT_DAYS
    country: str = "US"

    def ship_by(self, placed_at: datetime, country: str | None = None) -> datetime:
        where = country or self.country
        due, left = utc(placed_at), self.days
        while left > 0:
            due += timedelta(days=1)
            if is_business_day(due.date(), where):
                left -= 1
        return due


DEFAULT = Calendar()


def is_late(
    status: str, ship_by: datetime | None, shipped_at: datetime | None, now: datetime
) -> bool:
    """Not shipped by ``ship_by``: unshipped after it, or shipped after it."""
    if ship_by is None:
        return False
    if status in UNSHIPPED:
        return utc(now) > utc(ship_by)
    return shipped_at is not None and utc(shipped_at) > utc(ship_by)
