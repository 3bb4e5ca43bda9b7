"""app/db.py: a write transaction cancelled at its very end still ends cleanly.

The commit hands the connection back to the pool, which resets it with a ``ROLLBACK``;
a cancellation landing there (a stop cancelling a background loop) used to interrupt
that reset: SQLAlchemy logged "Exception during reset or similar" with a traceback
(seen in CI, in a webhook worker's log) and the connection was lost."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from app.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> Any:
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'cancel.db'}")
    async with database.write() as session:
        await session.exec(text("CREATE TABLE t (n INTEGER)"))
    yield database
    await database.dispose()


async def count(db: Database) -> int:
    async with db.read() as session:
        return int((await session.exec(text("SELECT count(*) FROM t"))).one()[0])


@pytest.mark.parametrize("moment", ["commit", "reset"])
async def test_a_write_cancelled_at_its_commit_finishes_it_and_logs_nothing(
    db: Database, moment: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``commit``: cancelled as the COMMIT is sent; ``reset``: as the pool resets the
    connection after it. Either way the insert is committed, the task then ends
    cancelled, nothing is logged and the pool still works."""
    target = db.engine.sync_engine if moment == "commit" else db.engine.sync_engine.pool
    tasks: list[asyncio.Task[None]] = []

    def cancel_it(*_args: Any) -> None:
        if tasks:
            tasks.pop().cancel()  # once: the await just after this is interrupted

    async def insert() -> None:
        async with db.write() as session:
            await session.exec(text("INSERT INTO t VALUES (1)"))
            event.listen(target, moment, cancel_it)
            tasks.append(me)

    caplog.set_level(logging.WARNING)
    me = asyncio.create_task(insert())
    try:
        with pytest.raises(asyncio.CancelledError):
            await me
    finally:
        event.remove(target, moment, cancel_it)
    assert not tasks, "the cancellation never came"
    assert caplog.records == [], caplog.text
    assert await count(db) == 1
    async with db.write() as session:  # a connection from the pool still works
        await session.exec(text("INSERT INTO t VALUES (2)"))
    assert await count(db) == 2


async def test_a_write_that_fails_is_rolled_back(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            await session.exec(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("no")
    assert await count(db) == 0
