"""Who is calling: bearer tokens on HTTP, ``?token=`` on WebSockets."""

from __future__ import annotations

from sqlmodel import col, select
from starlette.requests import HTTPConnection

from app.accounts import User
from app.errors import ApiError
from app.fields import MAX_ID
from app.state import AppState
from app.tokens import Claims, TokenError


def _bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid_token", "use 'Authorization: Bearer <token>'")
    return token.strip()


async def user_for_token(state: AppState, token: str) -> User:
    """The user a token names; ``ApiError`` 401 when it is invalid, expired, revoked
    or orphaned."""
    user, _claims = await check_token(state, token)
    return user


async def check_token(state: AppState, token: str) -> tuple[User, Claims]:
    """The user a token names and what it says; ``user_for_token`` with the claims."""
    try:
        claims = state.tokens.verify(token)
    except TokenError as exc:
        raise ApiError(401, exc.code, exc.message) from None
    return await recheck(state, claims), claims


async def recheck(state: AppState, claims: Claims) -> User:
    """The user of a token whose signature was verified, as the account is now: 401 when
    it has been revoked since (or its user disabled or gone). Costs a cache lookup, so
    an open socket calls it for every frame it acts on."""
    user = None
    if 1 <= claims.user_id <= MAX_ID:  # an impossible id must not reach the DB
        user = await state.users.load(claims.user_id, lambda ids: _users(state, ids))
    if user is None:
        raise ApiError(401, "invalid_token", "the token's user no longer exists")
    if user.disabled_at is not None:
        raise ApiError(401, "token_revoked", "this account is disabled")
    if claims.version != user.token_version or state.revocations.is_revoked(claims):
        raise ApiError(401, "token_revoked", "this token was revoked; sign in again")
    return user


async def require_token(conn: HTTPConnection) -> tuple[User, Claims]:
    """The caller and their token's claims; 401 without a valid token."""
    state: AppState = conn.app.state.livecart
    token = _bearer(conn)
    if token is None:
        raise _sign_in_first()
    return await check_token(state, token)


async def _users(state: AppState, ids: list[int]) -> list[User]:
    async with state.db.read() as session:
        return list((await session.exec(select(User).where(col(User.id).in_(ids)))).all())


async def optional_user(conn: HTTPConnection) -> User | None:
    """The caller, or None when no credentials were sent. Bad credentials are a 401."""
    state: AppState = conn.app.state.livecart
    token = _bearer(conn) if conn.scope["type"] == "http" else conn.query_params.get("token")
    if token is None:
        return None
    return await user_for_token(state, token)


async def require_user(conn: HTTPConnection) -> User:
    user = await optional_user(conn)
    if user is None:
        raise _sign_in_first()
    return user


def _sign_in_first() -> ApiError:
    return ApiError(
        401, "authentication_required", "sign in first", headers={"WWW-Authenticate": "Bearer"}
    )
