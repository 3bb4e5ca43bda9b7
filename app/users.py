"""Users by id for authentication: a short cache, and one query for many misses.

Every authenticated request names its user by id (in the token). In a flash
sale thousands of buyers nobody has seen in the last seconds arrive at once;
reading each one with its own query would take a pool connection per
request. Misses that arrive together are read together instead: one
``SELECT ... WHERE id IN (...)`` at a time per process, the rest waiting in
memory for the next one.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from app.accounts import User

Fetch = Callable[[list[int]], Awaitable[Iterable[User]]]


class UserCache:
    """Recently seen users by id, for a few seconds (``ttl_s``).

    Changes that matter at once (role, password, disable, sign out everywhere) are
    announced to every process, which then ``forget`` the user (``app.revocation``);
    the short lifetime bounds what a missed announcement could leave behind.
    Bounded: the oldest entries go first.
    """

    def __init__(self, ttl_s: float = 10.0, size: int = 10_000, max_batch: int = 500) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self.max_batch = max_batch
        self._entries: OrderedDict[int, tuple[float, User]] = OrderedDict()
        self._pending: dict[int, asyncio.Future[User | None]] = {}
        self._queue: list[int] = []
        self._loader: asyncio.Task[None] | None = None
        self._stale: set[int] = set()  # forgotten while being read: not to be cached

    def get(self, user_id: int) -> User | None:
        entry = self._entries.get(user_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, user: User) -> None:
        if user.id is None:
            return
        self._entries[user.id] = (time.monotonic() + self.ttl_s, user)
        self._entries.move_to_end(user.id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, user_id: int) -> None:
        """Drop the cached row: the next use reads it again. A read in flight may still
        put the old row back, so a read that started before is not trusted either."""
        self._entries.pop(user_id, None)
        if user_id in self._pending:
            self._stale.add(user_id)

    def clear(self) -> None:
        self._entries.clear()
        self._stale.update(self._pending)

    async def load(self, user_id: int, fetch: Fetch) -> User | None:
        """The user (None if there is none), from the cache or read with other misses."""
        cached = self.get(user_id)
        if cached is not None:
            return cached
        future = self._pending.get(user_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._pending[user_id] = future
            self._queue.append(user_id)
            if self._loader is None:
                self._loader = asyncio.create_task(self._load_all(fetch), name="livecart-users")
        return await asyncio.shield(future)

    async def _load_all(self, fetch: Fetch) -> None:
        ids: list[int] = []
        try:
            while self._queue:
                ids, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                try:
                    found = {u.id: u for u in await fetch(ids)}
                except Exception as exc:
                    for user_id in ids:
                        self._settle(user_id, exc)
                    continue
                for user in found.values():
                    if user.id not in self._stale:
                        self.put(user)
                self._stale.difference_update(ids)
                for user_id in ids:
                    self._settle(user_id, found.get(user_id))
        finally:
            self._loader = None
            # Cancelled (shutdown): fail what was being read and what waited, not strand them.
            for user_id in [*ids, *self._queue]:
                self._settle(user_id, RuntimeError("user loading stopped"))
            self._queue = []

    def _settle(self, user_id: int, outcome: User | Exception | None) -> None:
        future = self._pending.pop(user_id, None)
        if future is None or future.done():
            return
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
