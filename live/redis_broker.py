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

from common import keys
from live.broker import COOLDOWN_MAX_S, Broker
from live.presence import LocalPresence

log = logging.getLogger("livecart.broker")

# A process that has not reported for this long is considered gone.
PRESENCE_STALE_MS = 5_000

# KEYS: anonymous-counts hash, last-seen hash, account-refs hash, this process's account set.
# ARGV: process id, anonymous count, now ms, stale ms, full ('1': ARGV's accounts are all of
# this process's, replacing what it reported), expect ('1': this process believes it is
# registered), key prefix of the account sets, n, then n accounts added, then those removed.
# Applies this process's report, drops processes that stopped reporting (and their
# accounts), and returns the total: distinct accounts plus anonymous sockets of live
# processes. Returns -1, changing nothing, when the process was dropped meanwhile (say,
# Redis restarted): its deltas no longer apply, and it reports in full instead.
_PRESENCE_SCRIPT = """
local counts, seen, refs, mine = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local me, anon, now, stale = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local full, expect, prefix, n = ARGV[5] == '1', ARGV[6] == '1', ARGV[7], tonumber(ARGV[8])
local function unref(uid)
  if redis.call('HINCRBY', refs, uid, -1) <= 0 then redis.call('HDEL', refs, uid) end
end
local function drop(key)
  for _, uid in ipairs(redis.call('SMEMBERS', key)) do unref(uid) end
  redis.call('DEL', key)
end
if full then
  drop(mine)
elseif expect and redis.call('HEXISTS', seen, me) == 0 then
  return -1
end
for i = 9, 8 + n do
  if redis.call('SADD', mine, ARGV[i]) == 1 then redis.call('HINCRBY', refs, ARGV[i], 1) end
end
for i = 9 + n, #ARGV do
  if redis.call('SREM', mine, ARGV[i]) == 1 then unref(ARGV[i]) end
end
if anon > 0 or redis.call('SCARD', mine) > 0 then
  redis.call('HSET', counts, me, anon)
  redis.call('HSET', seen, me, now)
  redis.call('PEXPIRE', mine, stale * 4)
else
  redis.call('HDEL', counts, me)
  redis.call('HDEL', seen, me)
end
local total = 0
local all = redis.call('HGETALL', seen)
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < now - stale then
    drop(prefix .. all[i])
    redis.call('HDEL', counts, all[i])
    redis.call('HDEL', seen, all[i])
  else
    total = total + tonumber(redis.call('HGET', counts, all[i]) or '0')
  end
end
for _, key in ipairs({counts, seen, refs}) do redis.call('PEXPIRE', key, stale * 4) end
return total + redis.call('HLEN', refs)
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

# KEYS[1] counter; ARGV: window ms. One more attempt; {attempts, ms left}. The window
# starts with the first attempt and is set in the same step, so a counter never outlives it.
_COUNT_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  left = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], left)
end
return {n, left}
"""

# KEYS[1] counter; ARGV: '1' for all. Never creates the key (it would have no expiry).
_UNCOUNT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '1' then return redis.call('DEL', KEYS[1]) end
return redis.call('DECR', KEYS[1])
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


_TAKES_AT_ONCE = 1_000  # token takes per pipeline


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


class RedisOutlet:
    """``RedisBroker``'s publishing half over a given client: for a process that only
    publishes (``live.publisher.Publisher``) and needs no pub/sub connection."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def publish(self, channel: str, message: str) -> None:
        await self.redis.publish(channel, message)

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        """In order, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for channel, message in messages:
            pipe.publish(channel, message)
        await pipe.execute()


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
        self._sent: dict[int, LocalPresence] = {}  # what the last report said, per live
        self._takes: list[tuple[str, float, int, asyncio.Future[float]]] = []
        self._taker: asyncio.Task[None] | None = None

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("broker not started")
        return self._redis

    async def start(self) -> None:
        self._redis = redis_client(self.url)
        self._reader = asyncio.create_task(self._read_forever(), name="livecart-redis-reader")

    async def close(self) -> None:
        if self._taker is not None:
            self._taker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._taker
        for *_args, taken in self._takes:
            taken.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, channel: str, message: str) -> None:
        await RedisOutlet(self.redis).publish(channel, message)

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        await RedisOutlet(self.redis).publish_many(messages)

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

    async def _connect(self) -> PubSub:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        # Subscribing needs at least one channel; a private one keeps the connection ready.
        sent = set(self._channels)
        await pubsub.subscribe(keys.process_channel(self.process_id), *sent)
        # Channels added while that was awaited were not subscribed by ``subscribe`` (not
        # connected yet): take them now; no await separates this from ``_connected.set``.
        while missing := self._channels - sent:
            sent |= missing
            await pubsub.subscribe(*missing)
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
                        await self._pubsub.aclose()
                    self._pubsub = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max_s)
                first = False

    async def report_presence(self, local: dict[int, LocalPresence]) -> dict[int, int]:
        """Sends each live's changes since the last report (accounts added and removed),
        so a tick costs Redis work in proportion to the churn, not to the audience."""
        totals = await self._report(local, full=set())
        redo = {live_id for live_id, total in totals.items() if total < 0}
        if redo:  # dropped meanwhile (Redis restarted, or this process stalled): in full
            totals.update(await self._report({i: local[i] for i in redo}, full=redo))
        for live_id, here in local.items():
            if here.empty:
                self._sent.pop(live_id, None)
            else:
                self._sent[live_id] = here
        return totals

    async def _report(self, local: dict[int, LocalPresence], full: set[int]) -> dict[int, int]:
        now = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for live_id, here in local.items():
            before = None if live_id in full else self._sent.get(live_id)
            added = here.users if before is None else here.users - before.users
            removed = () if before is None else before.users - here.users
            pipe.eval(
                _PRESENCE_SCRIPT, 4, keys.presence(live_id), keys.presence_seen(live_id),
                keys.presence_refs(live_id), keys.presence_users(live_id, self.process_id),
                self.process_id, here.anonymous, now, PRESENCE_STALE_MS,
                "1" if live_id in full else "0", "1" if before is not None else "0",
                keys.presence_users_prefix(live_id), len(added), *added, *removed,
            )  # fmt: skip
        answers = await pipe.execute()
        return {live_id: int(total) for live_id, total in zip(local, answers, strict=True)}

    async def take_token(self, key: str, rate: float, burst: int) -> float:
        """One token from ``key``'s bucket. Takes asked for at the same moment (a rush of
        bids or chats) go to Redis together: one pipeline, one connection, one round trip."""
        taken: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._takes.append((key, rate, burst, taken))
        if self._taker is None:
            self._taker = asyncio.create_task(self._take_tokens(), name="livecart-tokens")
        return await taken

    async def _take_tokens(self) -> None:
        try:
            while self._takes:
                takes, self._takes = self._takes[:_TAKES_AT_ONCE], self._takes[_TAKES_AT_ONCE:]
                pipe = self.redis.pipeline(transaction=False)
                for key, rate, burst, _taken in takes:
                    pipe.eval(_TOKEN_SCRIPT, 1, key, rate, burst)
                try:
                    answers = await pipe.execute(raise_on_error=False)
                except Exception as exc:  # each take hears why (and limits in its process)
                    answers = [exc] * len(takes)
                except asyncio.CancelledError:  # closing: nobody is left waiting
                    for *_args, taken in takes:
                        taken.cancel()
                    raise
                for (_key, _rate, _burst, taken), answer in zip(takes, answers, strict=True):
                    if taken.done():  # its asker went away
                        continue
                    if isinstance(answer, Exception):
                        taken.set_exception(answer)
                    else:
                        taken.set_result(float(answer))
        finally:
            self._taker = None

    async def cooldown(self, key: str, seconds: float) -> float:
        left = await self.redis.eval(
            _COOLDOWN_SCRIPT, 1, key, int(seconds * 1000), COOLDOWN_MAX_S * 1000
        )
        return max(0.0, int(left) / 1000)

    async def count(self, key: str, window_s: float) -> tuple[int, float]:
        attempts, left_ms = await self.redis.eval(_COUNT_SCRIPT, 1, key, int(window_s * 1000))
        return int(attempts), int(left_ms) / 1000

    async def uncount(self, key: str, *, all_: bool = False) -> None:
        await self.redis.eval(_UNCOUNT_SCRIPT, 1, key, "1" if all_ else "0")

    async def is_watching(self, live_id: int, user_id: int) -> bool:
        return bool(await self.redis.hexists(keys.presence_refs(live_id), str(user_id)))

    async def presence_totals(self, live_ids: Iterable[int]) -> dict[int, int]:
        ids = list(live_ids)
        pipe = self.redis.pipeline(transaction=False)
        for live_id in ids:
            pipe.hgetall(keys.presence(live_id))
            pipe.hgetall(keys.presence_seen(live_id))
            pipe.hlen(keys.presence_refs(live_id))
        answers = await pipe.execute()
        fresh_after = int(time.time() * 1000) - PRESENCE_STALE_MS
        totals: dict[int, int] = {}
        for index, live_id in enumerate(ids):
            counts, seen, accounts = answers[3 * index : 3 * index + 3]
            fresh = {proc for proc, stamp in seen.items() if int(stamp) >= fresh_after}
            anonymous = sum(int(count) for proc, count in counts.items() if proc in fresh)
            totals[live_id] = anonymous + int(accounts)
        return totals
