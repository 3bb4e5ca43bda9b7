"""Every Redis key and pub/sub channel name livecart uses, in one place.

All start with ``PREFIX``, so one Redis may be shared with other applications.
Channel names can be read back with ``parse_channel``.
"""

from __future__ import annotations

PREFIX = "livecart"

# The fulfillment queue: a Stream of {"order_id": N} entries, and its consumer group.
ORDERS_STREAM = f"{PREFIX}:fulfillment:orders"
ORDERS_GROUP = "fulfillment"

# Set once Redis holds the stream and its group. Missing means Redis started empty
# (first run, or restarted without persistence): every unfinished order is relayed again.
ORDERS_EPOCH = f"{PREFIX}:fulfillment:epoch"

_LIVE, _USER = "live", "user"


def live_channel(live_id: int) -> str:
    """Pub/sub channel carrying a live's broadcast frames."""
    return f"{PREFIX}:{_LIVE}:{live_id}"


def user_channel(user_id: int) -> str:
    """Pub/sub channel carrying one user's private frames (orders)."""
    return f"{PREFIX}:{_USER}:{user_id}"


def process_channel(process_id: str) -> str:
    """Pub/sub channel of one process: nothing is published on it; subscribing to it
    keeps the process's subscriber connection open while it has no other channel."""
    return f"{PREFIX}:process:{process_id}"


def fulfillment_channel() -> str:
    """Pub/sub channel of every order change, for the staff board's sockets in every process."""
    return f"{PREFIX}:fulfillment"


def accounts_channel() -> str:
    """Pub/sub channel of account changes (revoked tokens, changed users) for every process."""
    return f"{PREFIX}:accounts"


def parse_channel(name: str) -> tuple[str, int] | None:
    """What a live or user channel name is for: ``("live", 12)`` for ``live_channel(12)``,
    ``("user", 3)`` for ``user_channel(3)``; None for any other name."""
    prefix, _, rest = name.partition(":")
    kind, _, ident = rest.partition(":")
    if prefix != PREFIX or kind not in (_LIVE, _USER) or not (ident.isascii() and ident.isdigit()):
        return None
    return kind, int(ident)


def presence(live_id: int) -> str:
    """Hash: process id → number of that process's anonymous viewers of the live."""
    return f"{PREFIX}:presence:{live_id}"


def presence_refs(live_id: int) -> str:
    """Hash: account id → number of processes where that account watches the live.
    Its length is the number of distinct signed-in viewers."""
    return f"{PREFIX}:presence-refs:{live_id}"


def presence_users_prefix(live_id: int) -> str:
    """Prefix of ``presence_users``: the presence script builds other processes' keys."""
    return f"{PREFIX}:presence-users:{live_id}:"


def presence_users(live_id: int, process_id: str) -> str:
    """Set: the accounts watching the live from one process."""
    return presence_users_prefix(live_id) + process_id


def presence_seen(live_id: int) -> str:
    """Hash: process id → last time (ms) that process reported the live's viewers."""
    return f"{PREFIX}:presence-seen:{live_id}"


def bid_bucket(auction_id: int, user_id: int) -> str:
    """Token bucket (hash: tokens, stamp) limiting one bidder's bids on one auction."""
    return f"{PREFIX}:bid-rate:{auction_id}:{user_id}"


def chat_bucket(live_id: int, user_id: int) -> str:
    """Token bucket (hash: tokens, stamp) limiting one user's chat on one live."""
    return f"{PREFIX}:chat-rate:{live_id}:{user_id}"


def chat_cooldown(live_id: int, user_id: int) -> str:
    """Slow-mode cooldown of one user on one live (expires by itself)."""
    return f"{PREFIX}:chat-slow:{live_id}:{user_id}"


def attempts(kind: str, subject: str) -> str:
    """Counter of attempts (failed logins, registrations) by one subject in a window."""
    return f"{PREFIX}:attempts:{kind}:{subject}"
