"""The bidding rules without sockets or databases: live/auction_rules.py."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from live.auction_rules import Bidder, Ledger, increment
from live.errors import AuctionClosed, BidTooLow, InvalidBid

T0 = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
ANN, BEN, CAT = Bidder(1, "ann"), Bidder(2, "ben"), Bidder(3, "cat")


def ledger(
    start: int = 1_000, seconds: int = 30, extend_s: int = 10, sudden: bool = False
) -> Ledger:
    return Ledger(start, T0 + timedelta(seconds=seconds), extend_s, sudden)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("price", "step"),
    [
        (0, 100), (1, 100), (2_999, 100),
        (3_000, 200), (4_999, 200),
        (5_000, 300), (9_999, 300),
        (10_000, 500), (29_999, 500),
        (30_000, 1_000), (99_999, 1_000),
        (100_000, 2_000), (199_999, 2_000),
        (200_000, 5_000), (10**12, 5_000),
    ],
)  # fmt: skip
def test_the_increment_table_at_every_boundary(price: int, step: int) -> None:
    assert increment(price) == step


@pytest.mark.parametrize(("price", "next_min"), [(2_900, 3_000), (2_999, 3_099), (3_000, 3_200),
                                                 (9_900, 10_200), (199_000, 201_000)])  # fmt: skip
def test_next_min_is_the_price_plus_its_increment(price: int, next_min: int) -> None:
    book = ledger(start=price)
    book.bid(ANN, price, None, at(1))
    assert (book.price_cents, book.next_min_cents) == (price, next_min)


def test_the_first_bid_must_meet_the_start_price() -> None:
    book = ledger(start=1_000)
    assert (book.next_min_cents, book.leader, book.price_cents) == (1_000, None, 1_000)
    with pytest.raises(BidTooLow) as refused:
        book.bid(ANN, 999, None, at(1))
    assert refused.value.data["next_min_cents"] == 1_000
    done = book.bid(ANN, 1_000, None, at(1))
    assert (done.price_cents, done.leader, done.outbid, done.bids) == (1_000, ANN, None, 1)
    assert done.next_min_cents == 1_100


def test_a_proxy_bid_answers_for_its_bidder_up_to_the_secret_maximum() -> None:
    book = ledger(start=1_000)
    book.bid(ANN, 1_000, 5_000, at(1))
    # Ben bids the minimum: Ann's maximum answers one increment above him.
    done = book.bid(BEN, 1_100, None, at(2))
    assert (done.leader, done.price_cents, done.outbid) == (ANN, 1_200, None)
    # Ben's maximum equals Ann's: Ann reached it first and keeps the lead, at her maximum.
    done = book.bid(BEN, 1_300, 5_000, at(3))
    assert (done.leader, done.price_cents) == (ANN, 5_000)
    # Cat goes past it: one increment above Ann's maximum, not Cat's own maximum.
    done = book.bid(CAT, 5_300, 8_000, at(4))
    assert (done.leader, done.price_cents, done.outbid) == (CAT, 5_300, ANN)
    assert done.next_min_cents == 5_600


def test_the_price_is_the_leaders_own_amount_when_that_is_higher() -> None:
    book = ledger(start=1_000)
    book.bid(ANN, 1_000, None, at(1))
    done = book.bid(BEN, 4_000, 4_500, at(2))  # one increment above Ann would be 1,100
    assert (done.leader, done.price_cents, done.outbid) == (BEN, 4_000, ANN)


def test_equal_maximums_the_earlier_leads_even_when_later_bids_are_louder() -> None:
    book = ledger(start=1_000)
    book.bid(ANN, 1_000, 3_000, at(1))
    done = book.bid(BEN, 3_000, 3_000, at(2))
    assert (done.leader, done.price_cents) == (ANN, 3_000)
    # Ben raising past Ann now leads; Ann raising to the same maximum afterwards does not.
    book.bid(BEN, 3_200, 6_000, at(3))
    done = book.bid(ANN, 3_400, 6_000, at(4))
    assert (done.leader, done.price_cents, done.outbid) == (BEN, 6_000, None)


def test_the_leader_may_raise_a_maximum_without_raising_the_price() -> None:
    book = ledger(start=1_000)
    book.bid(ANN, 1_000, 2_000, at(1))
    book.bid(BEN, 1_100, None, at(2))
    assert book.price_cents == 1_200
    done = book.bid(ANN, 1_300, 9_000, at(3))  # public amount 1,300: the price follows it
    assert (done.leader, done.price_cents) == (ANN, 1_300)
    assert book.standings[ANN.id].max_cents == 9_000


def test_a_maximum_below_its_amount_is_refused_and_changes_nothing() -> None:
    book = ledger()
    before = replace(book, standings=dict(book.standings))
    with pytest.raises(InvalidBid):
        book.bid(ANN, 1_500, 1_400, at(1))
    assert book == before


def test_no_bid_at_or_after_ends_at() -> None:
    book = ledger(seconds=30, extend_s=0)
    book.bid(ANN, 1_000, None, at(29.999))
    for late in (30, 30.001, 3_600):
        with pytest.raises(AuctionClosed):
            book.bid(BEN, 2_000, None, at(late))
    assert (book.bids, book.leader) == (1, ANN)


def test_soft_close_sets_the_time_left_back_to_extend_s() -> None:
    book = ledger(seconds=30, extend_s=10)
    assert not book.bid(ANN, 1_000, None, at(20)).extended  # exactly 10 s left: unchanged
    assert book.ends_at == at(30)
    done = book.bid(BEN, 1_100, None, at(25))  # 5 s left: back to 10
    assert (done.extended, done.ends_at) == (True, at(35))
    done = book.bid(ANN, 1_200, None, at(34.5))
    assert (done.extended, done.ends_at) == (True, at(44.5))


def test_sudden_death_is_never_extended() -> None:
    book = ledger(seconds=30, extend_s=10, sudden=True)
    done = book.bid(ANN, 1_000, None, at(29.9))
    assert (done.extended, done.ends_at) == (False, at(30))
    with pytest.raises(AuctionClosed):
        book.bid(BEN, 1_100, None, at(30))


def test_next_in_line_goes_down_the_ranking_at_each_bidders_maximum() -> None:
    book = ledger(start=1_000)
    book.bid(ANN, 1_000, 2_000, at(1))
    book.bid(CAT, 1_100, 2_000, at(2))  # equal to Ann's maximum, later
    book.bid(BEN, 2_100, 4_000, at(3))
    order = []
    passed: set[int] = set()
    while (nxt := book.next_in_line(passed)) is not None:
        order.append((nxt.bidder, nxt.max_cents))
        passed.add(nxt.bidder.id)
    assert order == [(BEN, 4_000), (ANN, 2_000), (CAT, 2_000)]


def test_random_bidding_keeps_every_rule() -> None:
    """Thousands of random bids: the price never falls, never passes the leader's maximum,
    is never below the leader's own amount; the leader holds the highest maximum."""
    rng = random.Random(20261205)
    for _ in range(200):
        book = ledger(start=rng.choice([100, 2_900, 9_999, 150_000]), seconds=60)
        bidders = [Bidder(i, f"b{i}") for i in range(1, rng.randint(2, 6))]
        last_price = book.price_cents
        for step in range(rng.randint(1, 40)):
            who = rng.choice(bidders)
            amount = book.next_min_cents + rng.choice([0, 0, 100, 2_500])
            ceiling = amount + rng.choice([0, 0, 300, 5_000, 60_000])
            done = book.bid(who, amount, ceiling, at(step * 0.01))
            top = book.ranking[0]
            assert done.leader == top.bidder
            assert all(s.max_cents <= top.max_cents for s in book.standings.values())
            assert last_price <= done.price_cents <= top.max_cents
            assert done.price_cents >= top.amount_cents
            last_price = done.price_cents
