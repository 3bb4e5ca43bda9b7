"""The giveaway draw (sans-I/O): a committed seed, and a winner anyone can recompute.

At the start the server picks a secret ``seed`` (64 hex digits from ``secrets``) and
publishes ``seed_hash`` = SHA-256 hex of it. At ``ends_at`` it reveals the seed; the
winner is entry ``int(sha256(seed + ":" + ",".join(user ids in entry order)), 16) % n``.

Why this is fair: the seed is fixed (and its hash public) before the first entry, so
the server cannot pick it to favour an entrant it already knows; the entrants cannot
steer it since they do not know it; and the entry list it is combined with is public
after the draw, so anyone holding the seed and the list checks both the hash and the
winner. What it does not prevent: the server adding entries of its own before the
draw — those would show in the public entrant list.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence


def new_seed() -> str:
    return secrets.token_hex(32)


def seed_hash(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def winner_index(seed: str, entrant_ids: Sequence[int]) -> int | None:
    """The winning entry's index in ``entrant_ids`` (entry order); None with no entries."""
    if not entrant_ids:
        return None
    digest = hashlib.sha256(f"{seed}:{','.join(str(i) for i in entrant_ids)}".encode())
    return int(digest.hexdigest(), 16) % len(entrant_ids)
