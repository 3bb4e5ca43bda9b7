"""Rate limits kept in memory: a token bucket, and the limits of one process (chat rate,
slow mode, attempt counters)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``."""

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled to ``burst`` by ``now`` (forgetting it loses nothing)."""
        return self.tokens + (now - self.stamp) * self.rate >= self.burst

    def take(self, now: float | None = None) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class LocalLimits:
    """Limits kept in this process: token buckets, slow-mode cooldowns and attempt
    counters by key.

    The in-process broker's limits, and the stand-in for the shared (Redis) ones
    while Redis is unreachable, so limits then hold per process instead of not at
    all. Memory stays bounded: idle buckets, cooldowns older than
    ``max_cooldown_s`` and ended counting windows are dropped now and then.
    """

    def __init__(self, max_cooldown_s: float) -> None:
        self.max_cooldown_s = max_cooldown_s
        self._buckets: dict[str, TokenBucket] = {}
        self._cooldowns: dict[str, float] = {}
        self._counts: dict[str, list[float]] = {}  # key → [attempts, window end]

    def take_token(self, key: str, rate: float, burst: int) -> float:
        """0.0 when allowed, else the seconds until a token is available."""
        bucket = self._buckets.get(key)
        if bucket is None:
            self._prune()
            bucket = self._buckets[key] = TokenBucket(rate, burst)
        bucket.rate, bucket.burst = rate, burst  # settings read at each call
        return bucket.take()

    def cooldown(self, key: str, seconds: float) -> float:
        """0.0 (and remember now) unless ``key`` was used less than ``seconds`` ago."""
        now = time.monotonic()
        last = self._cooldowns.get(key)
        if last is not None and now - last < seconds:
            return seconds - (now - last)
        self._prune()
        self._cooldowns[key] = now
        return 0.0

    def count(self, key: str, window_s: float) -> tuple[int, float]:
        """One more attempt under ``key``: (attempts in the window, seconds left of it)."""
        now = time.monotonic()
        seen = self._counts.get(key)
        if seen is None or seen[1] <= now:
            self._prune()
            seen = self._counts[key] = [0, now + window_s]
        seen[0] += 1
        return int(seen[0]), seen[1] - now

    def uncount(self, key: str, *, all_: bool = False) -> None:
        """Take back one attempt; ``all_``: forget the key (the next attempt starts a new
        window)."""
        if all_:
            self._counts.pop(key, None)
        elif (seen := self._counts.get(key)) is not None:
            seen[0] = max(0, seen[0] - 1)

    def _prune(self) -> None:
        if len(self._buckets) + len(self._cooldowns) + len(self._counts) < 10_000:
            return
        now = time.monotonic()
        self._counts = {k: c for k, c in self._counts.items() if c[1] > now}
        limit = self.max_cooldown_s
        self._cooldowns = {k: t for k, t in self._cooldowns.items() if now - t < limit}
        self._buckets = {k: b for k, b in self._buckets.items() if not b.full(now)}
