"""Ship-by dates (``checkout.sla``, no I/O): business days skip weekends and the
country's public holidays (the ``holidays`` package), and ``late`` means not shipped by
the ship-by time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from checkout.sla import Calendar, is_business_day, is_late


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("placed", "country", "due"),
    [
        ("2026-12-01", "US", "2026-12-03"),  # Tuesday: Thursday
        ("2026-12-04", "US", "2026-12-08"),  # Friday: across the weekend to Tuesday
        ("2026-12-05", "US", "2026-12-08"),  # placed on a Saturday: Monday is one
        ("2026-12-23", "US", "2026-12-28"),  # Christmas Day (Friday) is skipped
        ("2026-12-23", "GB", "2026-12-29"),  # ...and in GB Boxing Day, observed Monday
        ("2026-11-25", "US", "2026-11-30"),  # Thanksgiving Thursday skipped
        ("2026-11-25", "DE", "2026-11-27"),  # no Thanksgiving in Germany
        ("2026-12-24", "ZZ", "2026-12-28"),  # a country the package does not know: weekends
    ],
)
def test_two_business_days_in_the_warehouse_country(placed: str, country: str, due: str) -> None:
    assert Calendar(2, country).ship_by(at(placed)) == at(due)


def test_the_time_of_day_and_the_number_of_days_are_kept() -> None:
    placed = at("2026-12-01", 17).replace(minute=42)
    assert Calendar(1, "US").ship_by(placed) == placed + timedelta(days=1)
    assert Calendar(5, "US").ship_by(at("2026-12-01")) == at("2026-12-08")
    assert Calendar(2, "US").ship_by(at("2026-12-04"), "GB") == at("2026-12-08")


def test_business_days() -> None:
    assert is_business_day(at("2026-12-04").date(), "US")  # a Friday
    assert not is_business_day(at("2026-12-05").date(), "US")  # Saturday
    assert not is_business_day(at("2026-07-03").date(), "US")  # Independence Day, observed


def test_late_means_not_shipped_by_ship_by() -> None:
    due, now = at("2026-12-08"), at("2026-12-09")
    assert is_late("packed", due, None, now)  # still not shipped, and past it
    assert not is_late("packed", due, None, at("2026-12-07"))
    assert is_late("delivered", due, at("2026-12-08", 11), now)  # shipped after it
    assert not is_late("delivered", due, at("2026-12-08", 9), now)
    assert not is_late("cancelled", due, None, now)
    assert not is_late("placed", None, None, now)  # an order from before ship-by dates
