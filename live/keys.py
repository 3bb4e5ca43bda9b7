"""Every Redis key and channel name livecart uses, in one place."""

from __future__ import annotations

PREFIX = "livecart"


def live_channel(live_id: int) -> str:
    """Pub/sub channel carrying a live's broadcast frames."""
    return f"{PREFIX}:live:{live_id}"


def user_channel(user_id: int) -> str:
    """Pub/sub channel carrying one user's private frames (orders)."""
    return f"{PREFIX}:user:{user_id}"


def presence(live_id: int) -> str:
    """Hash: process id → number of that process's viewers of the live."""
    return f"{PREFIX}:presence:{live_id}"


def presence_seen(live_id: int) -> str:
    """Hash: process id → last time (ms) that process reported the live's viewers."""
    return f"{PREFIX}:presence-seen:{live_id}"


def chat_bucket(live_id: int, user_id: int) -> str:
    """Token bucket (hash: tokens, stamp) limiting one user's chat on one live."""
    return f"{PREFIX}:chat-rate:{live_id}:{user_id}"


def chat_cooldown(live_id: int, user_id: int) -> str:
    """Slow-mode cooldown of one user on one live (expires by itself)."""
    return f"{PREFIX}:chat-slow:{live_id}:{user_id}"
