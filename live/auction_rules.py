"""An auction's bidding rules, with no I/O: increments, proxy bids, ties, soft close.

``Ledger`` is one auction as the rules see it. ``Ledger.bid`` takes one bid at a
server time and either changes the ledger and says what changed (``Accepted``), or
raises and changes nothing. The database layer loads a ledger under the auction's
row lock, applies the bids of a batch in arrival order and writes the result back,
so the rules below hold however many processes take bids; the same rules run in the
tests without sockets or databases.

Guarantees:

- A bid is accepted only while ``now < ends_at``; an accepted bid with less than
  ``extend_s`` left sets the time left back to ``extend_s`` (never with
  ``sudden_death``), in the same step that accepts it.
- The leader is the bidder with the highest maximum; of equal maximums, the one who
  reached it first. The price is the larger of the leader's own amount and one
  increment above the best other maximum, never above the leader's maximum, and it
  never goes down.
- Maximums are secret: nothing here that is public (``Accepted``, ``price_cents``,
  ``next_min_cents``) reveals one unless the price had to rise to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from live.errors import AuctionClosed, BidTooLow, InvalidBid

# (from price, increment), in cents: below $30 -> $1, from $30 -> $2, and so on.
INCREMENTS: tuple[tuple[int, int], ...] = (
    (0, 100),
    (3_000, 200),
    (5_000, 300),
    (10_000, 500),
    (30_000, 1_000),
    (100_000, 2_000),
    (200_000, 5_000),
)


def increment(price_cents: int) -> int:
    """The step above ``price_cents``: the row of the table the price has reached."""
    step = INCREMENTS[0][1]
    for floor, size in INCREMENTS:
        if price_cents < floor:
            break
        step = size
    return step


@dataclass(frozen=True)
class Bidder:
    id: int
    username: str


@dataclass
class Standing:
    """One bidder's best so far: public amount, secret maximum, and when (the ledger's
    bid counter) they reached that maximum, which breaks ties."""

    bidder: Bidder
    amount_cents: int
    max_cents: int
    since: int


@dataclass(frozen=True)
class Accepted:
    """What one accepted bid changed. ``outbid``: who lost the lead to it (None when the
    leader did not change). ``extended``: the soft close moved ``ends_at``."""

    price_cents: int
    next_min_cents: int
    leader: Bidder
    outbid: Bidder | None
    bids: int
    ends_at: datetime
    extended: bool


@dataclass
class Ledger:
    start_cents: int
    ends_at: datetime
    extend_s: int
    sudden_death: bool
    price_cents: int = 0
    bids: int = 0
    standings: dict[int, Standing] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.price_cents = max(self.price_cents, self.start_cents)

    @property
    def ranking(self) -> list[Standing]:
        """Bidders best first: highest maximum, then who reached it first."""
        return sorted(self.standings.values(), key=lambda s: (-s.max_cents, s.since))

    @property
    def leader(self) -> Bidder | None:
        ranking = self.ranking
        return ranking[0].bidder if ranking else None

    @property
    def next_min_cents(self) -> int:
        """The least a bid may offer: the start price before the first bid, else the
        price plus its increment."""
        if not self.bids:
            return self.start_cents
        return self.price_cents + increment(self.price_cents)

    def open_at(self, now: datetime) -> bool:
        return now < self.ends_at

    def bid(
        self, bidder: Bidder, amount_cents: int, max_cents: int | None, now: datetime
    ) -> Accepted:
        """Apply one bid at server time ``now``. Raises ``AuctionClosed`` (at or after
        ``ends_at``), ``InvalidBid`` (a maximum below the amount) or ``BidTooLow`` (under
        ``next_min_cents``, which it carries); the ledger is then unchanged."""
        if not self.open_at(now):
            raise AuctionClosed("the auction has ended", ends_at=self.ends_at)
        ceiling = amount_cents if max_cents is None else max_cents
        if ceiling < amount_cents:
            raise InvalidBid("max_cents must be at least amount_cents", field="max_cents")
        if amount_cents < self.next_min_cents:
            raise BidTooLow(
                f"the next bid must be at least {self.next_min_cents} cents",
                next_min_cents=self.next_min_cents,
            )
        before = self.leader
        self.bids += 1
        self._stand(bidder, amount_cents, ceiling)
        self.price_cents = self._price()
        extended = self._soft_close(now)
        leader = self.leader
        if leader is None:  # unreachable: the bid just placed stands
            raise RuntimeError("a ledger with a bid has a leader")
        outbid = before if before is not None and before != leader else None
        return Accepted(self.price_cents, self.next_min_cents, leader, outbid, self.bids,
                        self.ends_at, extended)  # fmt: skip

    def _stand(self, bidder: Bidder, amount_cents: int, max_cents: int) -> None:
        mine = self.standings.get(bidder.id)
        if mine is None:
            self.standings[bidder.id] = Standing(bidder, amount_cents, max_cents, self.bids)
            return
        mine.amount_cents = max(mine.amount_cents, amount_cents)
        if max_cents > mine.max_cents:  # a raised maximum counts from now for ties
            mine.max_cents, mine.since = max_cents, self.bids

    def _price(self) -> int:
        first, *others = self.ranking
        price = first.amount_cents
        if others:
            best_other = others[0].max_cents
            price = max(price, min(first.max_cents, best_other + increment(best_other)))
        return max(price, self.price_cents)

    def _soft_close(self, now: datetime) -> bool:
        window = timedelta(seconds=self.extend_s)
        if self.sudden_death or self.ends_at - now >= window:
            return False
        self.ends_at = now + window
        return True

    def next_in_line(self, passed: set[int]) -> Standing | None:
        """The best bidder not in ``passed`` (those who could not pay): who the unit goes
        to next, at their own highest bid (their maximum)."""
        return next((s for s in self.ranking if s.bidder.id not in passed), None)
