"""Redis broker: one pub/sub connection per process, reconnecting on its own.

One subscription per process per live (not per viewer). When the connection
drops, the reader backs off, reconnects, resubscribes every channel and calls
``on_reconnect`` so the hub refills whatever it missed from the database log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from live import keys
from live.broker import COOLDOWN_MAX_S, Broker

log = logging.getLogger("livecart.broker")

# A process that has not reported for this long is considered gone.
PRESENCE_STALE_MS = 5_000

# KEYS[1] counts hash, KEYS[2] last-seen hash; ARGV: process id, count, now ms, stale ms.
# Records this process's count, drops processes that stopped reporting, returns the sum.
_PRESENCE_SCRIPT = """
local counts, seen = KEYS[1], KEYS[2]
local me, count, now, stale = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if count > 0 then
  redis.call('HSET', counts, me, count)
  redis.call('HSET', seen, me, now)
else
  redis.call('HDEL', counts, me)
  redis.call('HDEL', seen, me)
end
local total = 0
local all = redis.call('HGETALL', seen)
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < now - stale then
    redis.call('HDEL', counts, all[i])
    redis.call('HDEL', seen, all[i])
  else
    total = total + tonumber(redis.call('HGET', counts, all[i]) or '0')
  end
end
redis.call('PEXPIRE', counts, stale * 4)
redis.call('PEXPIRE', seen, stale * 4)
return total
"""


# KEYS[1] bucket hash; ARGV: rate/s, burst. Redis' own clock, so every process agrees.
_TOKEN_SCRIPT = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local data = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(data[1]) or burst
local stamp = tonumber(data[2]) or now
tokens = math.min(burst, tokens + (now - stamp) / 1000 * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""

# KEYS[1] holds the last time (ms, Redis clock); ARGV: interval ms, memory ms.
# Returns the ms left of the interval, or 0 after recording now.
_COOLDOWN_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[1]))
local interval = tonumber(ARGV[1])
if last and now - last < interval then return interval - (now - last) end
redis.call('SET', KEYS[1], now, 'PX', ARGV[2])
return 0
"""


def redis_client(url: str) -> Redis:
    """A client that retries a command on a dropped connection (say, after Redis restarted:
    pooled connections are dead, and the first command on each would otherwise fail)."""
    return Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=10,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


class RedisBroker(Broker):
    def __init__(self, url: str, *, reconnect_max_s: float = 2.0) -> None:
        super().__init__()
        self.url = url
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._reconnect_max_s = reconnect_max_s
        self._redis: Redis | None = None
        self._pubsub: PubSub | None = None
        self._channels: set[str] = set()
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("broker not started")
        return self._redis

    async def start(self) -> None:
        self._redis = redis_client(self.url)
        self._reader = asyncio.create_task(self._read_forever(), name="livecart-redis-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, channel: str, message: str) -> None:
        await self.redis.publish(channel, message)

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for channel, message in messages:
            pipe.publish(channel, message)
        await pipe.execute()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        if self._pubsub is not None and self._connected.is_set():
            try:
                await self._pubsub.subscribe(channel)
            except (RedisError, OSError):
                # The reader will reconnect and subscribe to every channel in _channels.
                log.warning("subscribe to %s failed; will retry on reconnect", channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if self._pubsub is not None and self._connected.is_set():
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def _connect(self) -> PubSub:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        # Subscribing needs at least one channel; a private one keeps the connection ready.
        await pubsub.subscribe(f"{keys.PREFIX}:process:{self.process_id}", *self._channels)
        return pubsub

    async def _read_forever(self) -> None:
        delay = 0.05
        first = True
        while True:
            try:
                self._pubsub = await self._connect()
                self._connected.set()
                delay = 0.05
                if not first:
                    log.info("redis broker reconnected; refilling gaps from the log")
                    self.on_reconnect()
                first = False
                while True:
                    message = await self._pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    channel = message["channel"].decode()
                    data = message["data"]
                    self.on_message(channel, data.decode() if isinstance(data, bytes) else data)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._connected.clear()
                log.warning("redis broker connection lost (%r); retrying in %.2fs", exc, delay)
                if self._pubsub is not None:
                    with contextlib.suppress(Exception):
                        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
                    self._pubsub = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max_s)
                first = False

    async def report_presence(self, local: dict[int, int]) -> dict[int, int]:
        now = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for live_id, count in local.items():
            pipe.eval(
                _PRESENCE_SCRIPT, 2, keys.presence(live_id), keys.presence_seen(live_id),
                self.process_id, count, now, PRESENCE_STALE_MS,
            )  # fmt: skip
        totals = await pipe.execute()
        return {live_id: int(total) for live_id, total in zip(local, totals, strict=True)}

    async def take_token(self, key: str, rate: float, burst: int) -> float:
        wait = await self.redis.eval(_TOKEN_SCRIPT, 1, key, rate, burst)
        return float(wait)

    async def cooldown(self, key: str, seconds: float) -> float:
        left = await self.redis.eval(
            _COOLDOWN_SCRIPT, 1, key, int(seconds * 1000), COOLDOWN_MAX_S * 1000
        )
        return max(0.0, int(left) / 1000)

    async def presence_totals(self, live_ids: Iterable[int]) -> dict[int, int]:
        ids = list(live_ids)
        pipe = self.redis.pipeline(transaction=False)
        for live_id in ids:
            pipe.hgetall(keys.presence(live_id))
            pipe.hgetall(keys.presence_seen(live_id))
        answers = await pipe.execute()
        fresh_after = int(time.time() * 1000) - PRESENCE_STALE_MS
        totals: dict[int, int] = {}
        for index, live_id in enumerate(ids):
            counts, seen = answers[2 * index], answers[2 * index + 1]
            fresh = {proc for proc, stamp in seen.items() if int(stamp) >= fresh_after}
            totals[live_id] = sum(int(count) for proc, count in counts.items() if proc in fresh)
        return totals
