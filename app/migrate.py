"""Alembic migrations, run programmatically: on start, by ``livecart migrate``, by tests.

Several processes may start at once (``--workers``, a release phase racing the
web dyno). The upgrade runs inside one transaction that first takes a lock —
``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite — so one
process migrates and the others then find the schema already at head.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x11FEC0A7  # arbitrary, constant: the advisory lock id for migrations


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    write_engine = Database(engine).write_engine
    async with write_engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)
