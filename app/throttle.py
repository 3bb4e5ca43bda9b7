"""Throttling of password guessing and mass registration.

Failed logins are counted per account and per client address, registrations per
address, each in a window of ``THROTTLE_WINDOW_S`` that starts at the first
attempt. An attempt is counted *before* its password is hashed or checked, so a
burst of guesses sent at once cannot slip through between check and count; a
login that succeeds takes its attempt back (and clears its account's count).
Beyond a limit the answer is 429 ``rate_limited`` with ``Retry-After``, and no
Argon2 work is spent.

Counters live in the broker: Redis (shared by every process) with ``REDIS_URL``,
in-process otherwise. If Redis fails, counting falls back to this process alone
rather than letting every guess through or refusing every login.
"""

from __future__ import annotations

import logging
import math

from redis.exceptions import RedisError

from app.errors import ApiError
from app.settings import THROTTLE_WINDOW_S, Settings
from common import keys
from live.broker import COOLDOWN_MAX_S, Broker
from live.ratelimit import LocalLimits

log = logging.getLogger("livecart.throttle")


class Throttle:
    def __init__(self, settings: Settings, broker: Broker) -> None:
        self.per_account = settings.login_failures_per_account
        self.per_address = settings.login_failures_per_address
        self.registrations = settings.registrations_per_address
        self.broker = broker
        self._fallback = LocalLimits(COOLDOWN_MAX_S)

    async def login(self, address: str, username: str) -> None:
        """Count a login attempt; 429 if the address or the account is over its limit.
        The address is checked first: a client over its own limit cannot add to (and
        lock out) other people's accounts."""
        await self._take(keys.attempts("login-address", address), self.per_address)
        await self._take(keys.attempts("login-account", username), self.per_account)

    async def login_succeeded(self, address: str, username: str) -> None:
        """The password was right: the attempt was no failure, and the account's
        failures are forgiven."""
        if self.per_address:
            await self._uncount(keys.attempts("login-address", address), all_=False)
        if self.per_account:
            await self._uncount(keys.attempts("login-account", username), all_=True)

    async def password_check(self, username: str) -> None:
        """Count a check of the current password (changing it): an account limit only,
        since whoever asks holds a token of the account already."""
        await self._take(keys.attempts("login-account", username), self.per_account)

    async def password_ok(self, username: str) -> None:
        if self.per_account:
            await self._uncount(keys.attempts("login-account", username), all_=True)

    async def registration(self, address: str) -> None:
        await self._take(keys.attempts("register-address", address), self.registrations)

    async def _take(self, key: str, limit: int) -> None:
        if not limit:
            return
        try:
            attempts, left = await self.broker.count(key, THROTTLE_WINDOW_S)
        except (RedisError, OSError) as exc:
            log.warning("throttle counting in this process only (%r)", exc)
            attempts, left = self._fallback.count(key, THROTTLE_WINDOW_S)
        if attempts > limit:
            retry_after = max(1, math.ceil(left))
            raise ApiError(
                429,
                "rate_limited",
                f"too many attempts; try again in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )

    async def _uncount(self, key: str, *, all_: bool) -> None:
        try:
            await self.broker.uncount(key, all_=all_)
        except (RedisError, OSError) as exc:
            log.warning("throttle counting in this process only (%r)", exc)
            self._fallback.uncount(key, all_=all_)
