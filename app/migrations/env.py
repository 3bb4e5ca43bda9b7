"""Alembic environment. Runs on a connection handed in by ``app.migrate``, or on its own
(``alembic`` CLI for autogenerate) against ``DATABASE_URL``."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from app.db import make_engine
from app.models import metadata
from app.settings import DEFAULT_DATABASE_URL, _normalise_database_url

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `livecart migrate`")
else:
    url = config.get_main_option("sqlalchemy.url") or _normalise_database_url(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    asyncio.run(_run_standalone(url))
