"""Choosing the warehouse an order ships from (sans-I/O: figures in, choices out).

An order goes whole to one warehouse that can still sell all its units, never split.
Among those, one in the order's shipping country comes first; then the one with the
most units left (keeping the others' stock for the orders that need it); then the code,
so the choice is the same every time for the same figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shelf:
    """One warehouse's figures for one product."""

    warehouse: str
    country: str
    on_hand: int
    allocated: int

    @property
    def sellable(self) -> int:
        return self.on_hand - self.allocated


class Bins:
    """What each warehouse can still sell of one product, taken from as orders are
    decided in arrival order."""

    def __init__(self, shelves: Iterable[Shelf]) -> None:
        self.left: dict[str, int] = {}
        self.country: dict[str, str] = {}
        for shelf in shelves:
            self.left[shelf.warehouse] = max(shelf.sellable, 0)
            self.country[shelf.warehouse] = shelf.country

    def copy(self) -> Bins:
        other = Bins(())
        other.left, other.country = dict(self.left), dict(self.country)
        return other

    @property
    def total(self) -> int:
        """What the product can still sell (its ``stock``)."""
        return sum(self.left.values())

    @property
    def most(self) -> int:
        """The largest order one warehouse can still take."""
        return max(self.left.values(), default=0)

    def pick(self, quantity: int, country: str | None = None) -> str | None:
        """The warehouse an order of ``quantity`` to ``country`` goes to; None: no one
        warehouse has that many left."""
        fits = [code for code, left in self.left.items() if left >= quantity]
        if not fits:
            return None
        return min(fits, key=lambda c: (self.country[c] != country, -self.left[c], c))

    def take(self, quantity: int, country: str | None = None) -> str | None:
        """``pick``, and count the units taken there."""
        code = self.pick(quantity, country)
        if code is not None:
            self.left[code] -= quantity
        return code
