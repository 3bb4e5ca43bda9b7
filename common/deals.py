"""The one deal type both sides share: ``live`` reads a deal, ``checkout`` prices by it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class DealTerms:
    """A live's deal on a product as it stands, read under the live's lock (so it holds
    until that transaction ends). ``pin_id`` None: the product is not pinned on the live;
    ``price_cents`` None: no deal runs (the list price applies)."""

    pin_id: int | None
    price_cents: int | None = None  # per unit
    remaining: int = 0
    per_buyer_limit: int | None = None
    claimed: dict[int, int] = field(default_factory=dict)  # buyer id -> units taken
    ends_at: datetime | None = None  # UTC; the deal price applies before it
