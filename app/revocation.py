"""Revoked tokens and changed accounts, known to every process.

A token stops working when its version is below its user's ``token_version``
(password changed, account disabled, signed out everywhere) or when its own id
was revoked (signed out). The first is checked against the user's row, which
each process caches for a few seconds (``app.users``); the second against the
revoked ids, which each process holds in memory (loaded from the database at
start: they are few, and kept only until the tokens would have expired).

Both kinds of change are announced on one broker channel, so every process drops
its cached row or learns the revoked id. Guarantees: the process that made the
change knows it before it answers; the others within one broker hop. Broker
messages are at most once, so each process also rereads the revoked ids every
``RELOAD_S`` (and cached rows expire within as long): a lost announcement is
made good within seconds. A process whose broker connection dropped forgets every
cached user and rereads the revoked ids at once when it is back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select

from app.accounts import RevokedToken
from app.db import Database
from app.tokens import Claims
from app.users import UserCache
from common import keys
from common.sql import upsert_insert
from common.tasks import cancel_and_wait
from common.times import utc, utcnow
from live.hub import Hub
from live.presence import every

log = logging.getLogger("livecart.accounts")
RELOAD_S = 10.0  # as long as a user stays cached (app.users.UserCache.ttl_s)


class Revocations:
    def __init__(self, db: Database, users: UserCache, hub: Hub) -> None:
        self.db = db
        self.users = users
        self.hub = hub
        self._revoked: dict[str, datetime] = {}  # token id → its expiry
        self._prune_at = 10_000
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen, load, and reload now and then (announcements can be lost)."""
        await self.hub.listen(keys.accounts_channel(), self._on_message, self._on_reconnect)
        await self._load()
        self._spawn(every(RELOAD_S, self._load, "reloading revoked tokens"))

    async def stop(self) -> None:
        """Within ``common.tasks.STOP_WAIT_S`` seconds, whatever the reload is doing."""
        await cancel_and_wait(self._tasks, what="revocations")

    def is_revoked(self, claims: Claims) -> bool:
        return claims.token_id is not None and claims.token_id in self._revoked

    async def revoke(self, claims: Claims) -> None:
        """Revoke one token, everywhere. Tokens without an id cannot be named: their
        caller revokes the account's tokens instead (``accounts.revoke_all``)."""
        if claims.token_id is None:
            return
        now = utcnow()
        async with self.db.write() as session:
            insert = upsert_insert(session)
            await session.exec(
                insert(RevokedToken)
                .values(
                    token_id=claims.token_id, user_id=claims.user_id, expires_at=claims.expires_at
                )
                .on_conflict_do_nothing(index_elements=["token_id"])
            )
            # The table holds only tokens that could still be used.
            await session.exec(delete(RevokedToken).where(col(RevokedToken.expires_at) <= now))
        self._remember(claims.token_id, claims.expires_at)
        await self._announce(
            {"token_id": claims.token_id, "expires_at": claims.expires_at.isoformat()}
        )

    async def user_changed(self, user_id: int) -> None:
        """The user's row changed (committed): every process rereads it on next use."""
        self.users.forget(user_id)
        await self._announce({"user_id": user_id})

    async def _announce(self, message: dict[str, object]) -> None:
        try:
            await self.hub.broker.publish(keys.accounts_channel(), json.dumps(message))
        except Exception as exc:  # committed: other processes catch up on their next resync
            log.warning("account change not announced to other processes: %r", exc)

    def _on_message(self, text: str) -> None:
        try:
            message = json.loads(text)
            if "user_id" in message:
                self.users.forget(int(message["user_id"]))
            else:
                expires = utc(datetime.fromisoformat(message["expires_at"]))
                self._remember(str(message["token_id"]), expires)
        except (ValueError, KeyError, TypeError, OverflowError):
            log.warning("dropping a malformed account change message")

    def _on_reconnect(self) -> None:
        self.users.clear()
        self._spawn(self._load())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="livecart-revocations")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load(self) -> None:
        now = utcnow()
        async with self.db.read() as session:
            rows = await session.exec(
                select(RevokedToken.token_id, RevokedToken.expires_at).where(
                    col(RevokedToken.expires_at) > now
                )
            )
            loaded = {token_id: utc(expires) for token_id, expires in rows.all()}
        self._revoked.update(loaded)

    def _remember(self, token_id: str, expires_at: datetime) -> None:
        if len(self._revoked) >= self._prune_at:  # amortised: expired ids go now and then
            now = utcnow()
            self._revoked = {t: e for t, e in self._revoked.items() if e > now}
            self._prune_at = max(10_000, 2 * len(self._revoked))
        self._revoked[token_id] = expires_at
