"""The Alembic migrations are the schema: they match the models and run concurrently."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from app.db import make_engine
from app.models import metadata


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def _schema_diff(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    assert asyncio.run(_schema_diff(database_url)) == []


def _migrate_concurrently(database_url: str, cwd: Path, processes: int = 3) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "migrate"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(processes)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out.decode()
    assert asyncio.run(_schema_diff(database_url)) == []


@pytest.mark.slow
def test_concurrent_migrations_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    _migrate_concurrently(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}", tmp_path)


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database beside the test one, dropped afterwards."""
    name = f"livecart_mig_{uuid.uuid4().hex[:10]}"
    admin_dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    base = postgres_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.slow
def test_concurrent_migrations_on_a_fresh_postgres(fresh_postgres: str, tmp_path: Path) -> None:
    _migrate_concurrently(fresh_postgres, tmp_path)
