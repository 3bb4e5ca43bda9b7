"""live/ratelimit.py: the in-process limits forget what no longer limits anyone, so a
process that saw many users (or an attacker cycling keys) keeps bounded memory."""

from __future__ import annotations

from live.ratelimit import LocalLimits, TokenBucket


def held(limits: LocalLimits) -> int:
    return len(limits._buckets) + len(limits._cooldowns) + len(limits._counts)


def test_a_bucket_is_full_again_once_its_burst_has_refilled() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, stamp=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
    assert not bucket.full(100.5)  # one token back of three
    assert bucket.full(101.5)


def test_idle_buckets_old_cooldowns_and_ended_windows_are_dropped() -> None:
    limits = LocalLimits(max_cooldown_s=0.0)
    for i in range(4_000):
        limits.take_token(f"bucket:{i}", rate=1e9, burst=1)  # refilled at once: idle
        limits.cooldown(f"cooldown:{i}", 0.0)
        limits.count(f"count:{i}", 0.0)  # a window that has already ended
    assert held(limits) < 10_000, "pruned once 10,000 keys were held"
    assert held(limits) >= 1_000


def test_limits_still_in_force_are_kept_when_pruning() -> None:
    limits = LocalLimits(max_cooldown_s=3600.0)
    limits.take_token("busy", rate=0.001, burst=1)  # empty for ~17 minutes
    assert limits.cooldown("slow", 60.0) == 0.0
    assert limits.count("guesses", 900.0)[0] == 1
    for i in range(10_000):
        limits.take_token(f"idle:{i}", rate=1e9, burst=1)
    limits.take_token("one more", rate=1.0, burst=1)  # a new key: prunes
    assert held(limits) < 100
    assert limits.take_token("busy", rate=0.001, burst=1) > 0  # still empty
    assert limits.cooldown("slow", 60.0) > 0  # still cooling down
    assert limits.count("guesses", 900.0)[0] == 2  # same window
