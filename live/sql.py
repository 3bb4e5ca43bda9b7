"""SQL that differs between SQLite and PostgreSQL, in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession


def upsert_insert(session: AsyncSession) -> Any:
    """The dialect's ``insert`` (with ``on_conflict_do_nothing``/``do_update``) for ``session``.

    Both databases speak ``INSERT ... ON CONFLICT``; SQLAlchemy exposes it per dialect.
    """
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
