"""Data migrations under test: rows written at an old revision, read back after
upgrading, on a scratch SQLite file or a scratch PostgreSQL database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


async def _admin(postgres_url: str, sql: str) -> None:
    conn = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def on_scratch_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest,
    check: Callable[[str], Awaitable[T]],
) -> T:  # fmt: skip
    """``check(url)`` on a new, empty database of ``backend`` (dropped afterwards)."""
    if backend == "sqlite":
        return asyncio.run(check(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"))
    postgres_url: str = request.getfixturevalue("postgres_url")
    name = f"livecart_migration_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(postgres_url, f'CREATE DATABASE "{name}"'))
    try:
        return asyncio.run(check(f"{postgres_url.rsplit('/', 1)[0]}/{name}"))
    finally:
        asyncio.run(_admin(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def old_product(conn: AsyncConnection, now: datetime, stock: int = 5) -> None:
    """User 1 (a creator) and their product 1, as any revision since 0001 has them."""
    await conn.execute(text(
        "INSERT INTO users (id, username, password_hash, role, created_at) "
        "VALUES (1, 'old', 'x', 'creator', :now)"), {"now": now})  # fmt: skip
    await conn.execute(text(
        "INSERT INTO products (id, creator_id, title, description, price_cents, "
        "currency, stock, created_at, updated_at) "
        "VALUES (1, 1, 'Mug', '', 100, 'USD', :stock, :now, :now)"),
        {"now": now, "stock": stock})  # fmt: skip
