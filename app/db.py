"""Database engine and sessions.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every
write transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers queue on
the database lock instead of failing half-way with ``database is locked``.
Reads use plain deferred transactions and never block writers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from common.tasks import to_completion

SQLITE_BUSY_TIMEOUT_MS = 30_000
POOL_TIMEOUT_S = 10  # waiting longer for a connection means overload: answer 429 busy
_WRITE_OPTION = "livecart_write"


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so "begin" below decides.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _install_sqlite_hooks(engine)
        return engine
    # No pre-ping (a round trip per checkout, ~17% of a busy request's time): connections
    # are recycled instead, and a dead one fails one request rather than every checkout.
    return create_async_engine(
        url, pool_size=10, max_overflow=20, pool_recycle=300, pool_timeout=POOL_TIMEOUT_S
    )


class Database:
    """Owns the engine; hands out read and write sessions.

    ``write()`` commits when the block exits normally and rolls back on any
    exception, so a failed request leaves nothing half-written.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.write_engine = engine.execution_options(**{_WRITE_OPTION: True})

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A read session whose statements all see one consistent moment.

        SQLite read transactions already do; PostgreSQL needs REPEATABLE READ
        (under its default READ COMMITTED each statement sees a newer moment).
        """
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            if self.dialect == "postgresql":
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        # Neither the commit nor, on failure, the rollback may stop half-way when this
        # task is cancelled (a stop cancels a loop that was in a transaction; it cancels
        # again if the loop has not ended): each hands the connection back to the pool
        # with a reset ``ROLLBACK``, and an interrupted one loses it and logs a traceback.
        # The commit runs to completion here; the rollback is the session's close on the
        # way out, which SQLAlchemy runs to completion.
        async with AsyncSession(self.write_engine, expire_on_commit=False) as session:
            yield session
            await to_completion(session.commit())

    async def warm(self, connections: int = 4) -> None:
        """Open a few pooled connections now, so the first requests after a start (say,
        a flash sale right after a deploy) do not each wait for a new connection."""
        if self.dialect != "postgresql":
            return

        conns = [self.engine.connect() for _ in range(connections)]
        opened = await asyncio.gather(*(c.start() for c in conns), return_exceptions=True)
        for conn, result in zip(conns, opened, strict=True):
            if not isinstance(result, BaseException):
                await conn.close()  # back to the pool, open
        failed = [r for r in opened if isinstance(r, BaseException)]
        if failed:
            raise failed[0]

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
