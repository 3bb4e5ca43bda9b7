"""SQL helpers that live and checkout (and app) share; what differs between SQLite
and PostgreSQL is decided here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

Row = TypeVar("Row", bound=SQLModel)


def upsert_insert(session: AsyncSession) -> Any:
    """The dialect's ``insert`` (with ``on_conflict_do_nothing``/``do_update``) for ``session``.

    Both databases speak ``INSERT ... ON CONFLICT``; SQLAlchemy exposes it per dialect.
    """
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def inserted(session: AsyncSession, row: Row) -> Row:
    """Add ``row`` and flush, so the database has assigned its id; returns it."""
    session.add(row)
    await session.flush()
    return row


async def get_or_raise(
    session: AsyncSession, model: type[Row], ident: Any, missing: Exception
) -> Row:
    """The row of ``model`` with primary key ``ident``; raises ``missing`` when there is none."""
    row = await session.get(model, ident)
    if row is None:
        raise missing
    return row


async def newest_first(
    session: AsyncSession, model: type[Row], *, limit: int, offset: int, **equal: object
) -> Sequence[Row]:
    """One page of ``model``'s rows, highest primary key first, keeping those whose
    columns (named by the keywords) equal the values given; a value of None does not filter."""
    query = select(model)
    for name, value in equal.items():
        if value is not None:
            query = query.where(col(getattr(model, name)) == value)
    newest = inspect(model).primary_key[0].desc()
    return (await session.exec(query.order_by(newest).limit(limit).offset(offset))).all()


async def run_together(session: AsyncSession, statements: Sequence[UpdateBase]) -> None:
    """Run write statements whose results nobody reads, in one round trip on PostgreSQL.

    There they become one statement: all but the last as data-modifying ``WITH``
    clauses of the last. PostgreSQL runs those on one snapshot, in no set order, so the
    statements must not read what another of them writes (different rows, or different
    tables). Elsewhere (SQLite, in-process: no round trip to save) they run in order.
    """
    if not statements:
        return
    if session.get_bind().dialect.name != "postgresql":
        for statement in statements:
            await session.exec(statement)
        return
    *first, last = statements
    ctes = [statement.cte(f"step_{i}") for i, statement in enumerate(first)]
    await session.exec(last.add_cte(*ctes) if ctes else last)
