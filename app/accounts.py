"""User accounts: the table, registration, password checks, and the changes that
revoke an account's tokens (password change, disable, sign out everywhere).

Passwords are hashed with Argon2id (argon2-cffi). Hashing is CPU-heavy, so it
runs in a worker thread to keep the event loop serving sockets meanwhile.

Every token carries the user's ``token_version`` at issue; raising the version
(one atomic ``UPDATE``) makes every earlier token invalid at once.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Column, DateTime, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import ApiError
from common.sql import upsert_insert
from common.times import utcnow

# OWASP's recommended Argon2id parameters (19 MiB, 2 passes, 1 lane): ~30 ms a hash
# on a small server, so logins stay cheap during a flash sale yet costly to brute-force.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
# Hashes run on their own few threads, at most half the cores: a flood of logins queues
# here instead of taking every core from the requests and sockets of everyone else.
_HASHING = ThreadPoolExecutor(
    max_workers=max(1, (os.cpu_count() or 2) // 2), thread_name_prefix="argon2"
)
# Verified against when the username is unknown, so both failures take as long.
_DUMMY_HASH = _hasher.hash("livecart-timing-equaliser")


class Role(StrEnum):
    VIEWER = "viewer"
    CREATOR = "creator"
    STAFF = "staff"
    ADMIN = "admin"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=32, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)
    token_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    disabled_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False),
    )

    @property
    def uid(self) -> int:
        """The id of a stored user (always set once flushed)."""
        if self.id is None:
            raise RuntimeError("user has not been stored yet")
        return self.id


class RevokedToken(SQLModel, table=True):
    __tablename__ = "revoked_tokens"

    token_id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(foreign_key="users.id", index=True)
    # When the token would have expired anyway: the row can go then.
    expires_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, _hasher.hash, password)


async def _verify(password_hash: str, password: str) -> bool:
    try:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_HASHING, _hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def get_by_username(session: AsyncSession, username: str) -> User | None:
    return (await session.exec(select(User).where(User.username == username))).first()


async def create_user(session: AsyncSession, username: str, password: str, role: Role) -> User:
    """Hash ``password`` and ``insert_user``."""
    return await insert_user(session, username, await hash_password(password), role)


async def insert_user(session: AsyncSession, username: str, password_hash: str, role: Role) -> User:
    """Store a new user; a taken username raises 409 ``username_taken``.

    The insert skips on conflict instead of failing, so two racing registrations
    of one name give one account and one clean 409, never a database error.
    Hash before opening the transaction: a write transaction held for the 30 ms of
    a hash holds every other writer on SQLite.
    """
    insert = upsert_insert(session)
    result = await session.exec(
        insert(User)
        .values(
            username=username,
            password_hash=password_hash,
            role=role.value,
            token_version=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["username"])
    )
    if result.rowcount != 1:
        raise ApiError(
            409, "username_taken", "that username is taken", fields={"username": "already taken"}
        )
    user = await get_by_username(session, username)
    if user is None:  # pragma: no cover - the row was just inserted in this transaction
        raise RuntimeError("inserted user vanished")
    return user


async def check_login(user: User | None, password: str) -> User:
    """``user`` (read by name) if ``password`` is its password, else 401
    ``invalid_credentials``. Call it outside any database session: the hash may wait
    for a hashing thread, and must not hold a pooled connection meanwhile."""
    ok = await _verify(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok:
        raise ApiError(401, "invalid_credentials", "wrong username or password")
    if user.disabled_at is not None:  # told only to whoever knows the password
        raise ApiError(403, "account_disabled", "this account is disabled")
    return user


async def check_current_password(user: User, current: str) -> None:
    """403 when ``current`` is not ``user``'s password (the caller is signed in, so not
    401: that would read as a dead token). Outside any database session."""
    if not await _verify(user.password_hash, current):
        raise ApiError(
            403,
            "invalid_credentials",
            "the current password is wrong",
            fields={"current_password": "wrong password"},
        )


async def set_password(
    session: AsyncSession, user_id: int, version: int, password_hash: str
) -> User:
    """Set a new password and revoke every token issued before, if the caller's token
    (at ``version``) is still good: a disable, sign-out or other password change that
    won the race makes this 401 ``token_revoked`` instead of undoing it."""
    changed = await session.exec(
        update(User)
        .where(
            col(User.id) == user_id,
            col(User.token_version) == version,
            col(User.disabled_at).is_(None),
        )
        .values(password_hash=password_hash, token_version=col(User.token_version) + 1)
    )
    if changed.rowcount != 1:
        raise ApiError(401, "token_revoked", "this token was revoked; sign in again")
    return await _reread(session, user_id)


async def revoke_all(session: AsyncSession, user_id: int) -> User:
    """Every token of the account issued until now stops working."""
    return await _update(session, user_id, revoke=True)


async def set_disabled(session: AsyncSession, username: str, disabled: bool) -> User:
    """Disable (tokens revoked, no sign-in) or enable an account by name; 404 if none."""
    user = await _named(session, username)
    stamp = utcnow() if disabled else None
    if (user.disabled_at is not None) == disabled:
        return user  # idempotent: disabling twice keeps the first time
    return await _update(session, user.uid, disabled_at=stamp, revoke=disabled)


async def set_role(session: AsyncSession, username: str, role: Role) -> User:
    user = await _named(session, username)
    return await _update(session, user.uid, role=role.value)


async def _named(session: AsyncSession, username: str) -> User:
    user = await get_by_username(session, username)
    if user is None:
        raise ApiError(404, "user_not_found", "no user with that username")
    return user


async def _update(
    session: AsyncSession, user_id: int, *, revoke: bool = False, **values: Any
) -> User:
    """One ``UPDATE`` of the user's row; with ``revoke`` the version rises in the same
    statement, so concurrent revocations never collapse into one."""
    if revoke:
        values["token_version"] = col(User.token_version) + 1
    await session.exec(update(User).where(col(User.id) == user_id).values(**values))
    return await _reread(session, user_id)


async def _reread(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id, populate_existing=True)
    if user is None:  # pragma: no cover - the id came from a row read in this transaction
        raise RuntimeError("updated user vanished")
    return user
