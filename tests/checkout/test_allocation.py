"""Choosing an order's warehouse (``checkout.allocation``), without a database: one
warehouse that has all the units, the shipping country first, then the most units."""

from __future__ import annotations

from checkout.allocation import Bins, Shelf
from checkout.attempts import short_of


def bins(**left: tuple[str, int]) -> Bins:
    return Bins(Shelf(code, country, units, 0) for code, (country, units) in left.items())


def test_the_shipping_country_comes_first_even_with_fewer_units() -> None:
    b = bins(MAIN=("US", 10), BER=("DE", 2))
    assert b.take(1, "DE") == "BER"
    assert b.take(1, "US") == "MAIN"
    assert b.left == {"MAIN": 9, "BER": 1}


def test_elsewhere_the_most_units_then_the_code() -> None:
    b = bins(MAIN=("US", 3), BER=("DE", 5), AMS=("NL", 5))
    assert b.pick(1, "FR") == "AMS"  # 5 and 5: by code
    assert b.take(2, None) == "AMS"
    assert b.take(2, "GB") == "BER"  # now 3, 3, 3... BER and MAIN tie at 3 with AMS
    assert b.left == {"MAIN": 3, "BER": 3, "AMS": 3}


def test_falls_back_when_the_country_cannot_take_the_whole_order() -> None:
    b = bins(MAIN=("US", 4), BER=("DE", 1))
    assert b.take(2, "DE") == "MAIN"
    assert b.take(1, "DE") == "BER"
    assert b.take(1, "DE") == "MAIN"
    assert b.take(2, "DE") is None  # 1 left, on MAIN
    assert b.left == {"MAIN": 1, "BER": 0}


def test_never_split_and_the_refusal_says_what_fits() -> None:
    b = bins(MAIN=("US", 2), BER=("DE", 2))
    assert b.total == 4 and b.most == 2
    assert b.take(3, "US") is None
    assert short_of(1, b, 3).message == "at most 2 ship together from one warehouse"
    assert short_of(1, b, 5).message == "only 4 left"
    assert short_of(1, b, 5).data["available"] == 4


def test_allocated_units_and_copies() -> None:
    b = Bins([Shelf("MAIN", "US", 5, 3), Shelf("BER", "DE", 1, 2)])  # over-allocated: 0
    assert b.left == {"MAIN": 2, "BER": 0}
    copy = b.copy()
    copy.take(2, "US")
    assert b.left["MAIN"] == 2 and copy.left["MAIN"] == 0
    assert b.pick(1, "DE") == "MAIN"  # BER has nothing to sell
