"""The giveaway draw's pure parts (``live.giveaway_rules``) and how a chat line says a
keyword (``live.claims.says``): no database, no sockets."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from live.claims import says
from live.giveaway_rules import new_seed, seed_hash, winner_index


def test_the_seed_is_secret_and_its_hash_commits_to_it() -> None:
    seeds = {new_seed() for _ in range(100)}
    assert len(seeds) == 100 and all(len(s) == 64 and int(s, 16) >= 0 for s in seeds)
    seed = "ab" * 32
    assert seed_hash(seed) == hashlib.sha256(seed.encode()).hexdigest()
    assert seed_hash(seed) != seed_hash("ab" * 31 + "ac")


def test_the_winner_follows_the_contract_formula() -> None:
    seed = "0123456789abcdef" * 4
    ids = [31, 7, 12, 99]
    expected = int(hashlib.sha256(f"{seed}:31,7,12,99".encode()).hexdigest(), 16) % 4
    assert winner_index(seed, ids) == expected
    assert winner_index(seed, []) is None
    assert winner_index(seed, [5]) == 0


def test_entry_order_and_seed_both_matter() -> None:
    ids = list(range(1, 51))
    picks = {winner_index(new_seed(), ids) for _ in range(200)}
    assert len(picks) > 30  # the seed moves the pick around
    seed = new_seed()
    reordered = {winner_index(seed, ids[k:] + ids[:k]) for k in range(50)}
    assert len(reordered) > 1  # the list (its order) is part of the hash


def test_no_entry_is_favoured() -> None:
    """Over many seeds each of 5 entries wins about a fifth of the time."""
    wins = Counter(winner_index(new_seed(), [10, 20, 30, 40, 50]) for _ in range(5_000))
    assert set(wins) == {0, 1, 2, 3, 4}
    assert all(800 < n < 1_200 for n in wins.values()), wins


@pytest.mark.parametrize(
    ("text", "said"),
    [("win", True), ("WIN!", True), ("Win please", True), ("  win", True),
     ("winner", False), ("I win", False), ("", False), ("w i n", False)],
)  # fmt: skip
def test_a_line_says_the_keyword_with_its_first_word(text: str, said: bool) -> None:
    assert says(text, "WIN") is said
