"""Register, log in; password change, sign out, and admin account controls.

Logins and registrations are throttled (``app.throttle``) before any password is
hashed. Revoking tokens (password change, sign out everywhere, disable) also
closes the account's open sockets with 4401, in every process.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import accounts
from app.accounts import Role, User
from app.auth import require_token, require_user
from app.errors import ApiError
from app.fields import USERNAME_RE
from app.http import operation, parse_body, respond, state
from app.permissions import Action, authorize
from app.schemas import (
    AuthOut,
    LoginIn,
    LogoutIn,
    PasswordChangeIn,
    RegisterIn,
    RoleIn,
    UserEnvelope,
    UserOut,
)
from app.state import AppState
from live import close_codes


def user_out(user: User) -> UserOut:
    return UserOut(id=user.uid, username=user.username, role=user.role)


def client_address(request: Request) -> str:
    """The caller's address after trusted proxy headers (uvicorn applies them)."""
    return request.client.host if request.client is not None else "unknown"


def _auth(st: AppState, user: User) -> AuthOut:
    return AuthOut(user=user_out(user), token=st.tokens.issue(user.uid, user.token_version))


@operation(
    "Create an account (viewer or creator) and get a token",
    body=RegisterIn,
    responses={201: AuthOut, 409: None, 422: None, 429: None},
    tags=("accounts",),
)
async def register(request: Request) -> Response:
    body = await parse_body(request, RegisterIn)
    st = state(request)
    await st.throttle.registration(client_address(request))
    hashed = await accounts.hash_password(body.password)
    async with st.db.write() as session:
        user = await accounts.insert_user(session, body.username, hashed, Role(body.role))
    return respond(_auth(st, user), 201)


@operation(
    "Exchange username and password for a token",
    body=LoginIn,
    responses={200: AuthOut, 401: None, 403: None, 422: None, 429: None},
    tags=("accounts",),
)
async def login(request: Request) -> Response:
    body = await parse_body(request, LoginIn)
    st = state(request)
    address = client_address(request)
    await st.throttle.login(address, body.username)
    async with st.db.read() as session:
        found = await accounts.get_by_username(session, body.username)
    user = await accounts.check_login(found, body.password)
    await st.throttle.login_succeeded(address, body.username)
    return respond(_auth(st, user))


@operation(
    "Change my password: every token issued before stops working; a new one is returned",
    body=PasswordChangeIn,
    auth=True,
    responses={200: AuthOut, 401: None, 403: None, 422: None, 429: None},
    tags=("accounts",),
)
async def change_password(request: Request) -> Response:
    user, claims = await require_token(request)
    body = await parse_body(request, PasswordChangeIn)
    st = state(request)
    await st.throttle.password_check(user.username)
    await accounts.check_current_password(user, body.current_password)
    await st.throttle.password_ok(user.username)
    hashed = await accounts.hash_password(body.new_password)
    async with st.db.write() as session:
        changed = await accounts.set_password(session, user.uid, claims.version, hashed)
    await _revoked_everywhere(st, changed, "your password was changed; sign in again")
    return respond(_auth(st, changed))


@operation(
    "Sign out: this token stops working (with everywhere: every token of the account)",
    body=LogoutIn,
    body_required=False,
    auth=True,
    responses={204: None, 401: None, 422: None},
    tags=("accounts",),
)
async def logout(request: Request) -> Response:
    user, claims = await require_token(request)
    # The body is optional: a bare POST signs out this token.
    sent = (
        request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    )
    body = await parse_body(request, LogoutIn) if sent else LogoutIn()
    st = state(request)
    if body.everywhere or claims.token_id is None:  # an old token has no id to revoke
        async with st.db.write() as session:
            changed = await accounts.revoke_all(session, user.uid)
        await _revoked_everywhere(st, changed, "signed out everywhere")
    else:
        await st.revocations.revoke(claims)
    return Response(status_code=204)


@operation(
    "Disable an account (admin): its tokens stop working and its sockets close",
    auth=True,
    responses={200: UserEnvelope, 401: None, 403: None, 404: None},
    tags=("accounts",),
)
async def disable(request: Request) -> Response:
    return await _admin_change(request, disabled=True)


@operation(
    "Enable a disabled account again (admin); its holder signs in anew",
    auth=True,
    responses={200: UserEnvelope, 401: None, 403: None, 404: None},
    tags=("accounts",),
)
async def enable(request: Request) -> Response:
    return await _admin_change(request, disabled=False)


@operation(
    "Change an account's role (admin); applies at once in every process",
    body=RoleIn,
    auth=True,
    responses={200: UserEnvelope, 401: None, 403: None, 404: None, 422: None},
    tags=("accounts",),
)
async def set_role(request: Request) -> Response:
    admin = authorize(await require_user(request), Action.MANAGE_ACCOUNTS)
    body = await parse_body(request, RoleIn)
    username = _username(request)
    if username == admin.username:  # the last admin must not lock everyone out
        raise ApiError(409, "invalid_state", "an admin cannot change their own role")
    st = state(request)
    async with st.db.write() as session:
        user = await accounts.set_role(session, username, Role(body.role))
    await st.revocations.user_changed(user.uid)
    return respond(UserEnvelope(user=user_out(user)))


async def _admin_change(request: Request, *, disabled: bool) -> Response:
    admin = authorize(await require_user(request), Action.MANAGE_ACCOUNTS)
    username = _username(request)
    if disabled and username == admin.username:
        raise ApiError(409, "invalid_state", "an admin cannot disable their own account")
    st = state(request)
    async with st.db.write() as session:
        user = await accounts.set_disabled(session, username, disabled)
    if disabled:
        await _revoked_everywhere(st, user, "this account was disabled")
    else:
        await st.revocations.user_changed(user.uid)
    return respond(UserEnvelope(user=user_out(user)))


async def _revoked_everywhere(st: AppState, user: User, why: str) -> None:
    """After a committed revocation of every token: every process rereads the user,
    and the account's open sockets close with 4401 wherever they are."""
    await st.revocations.user_changed(user.uid)
    await st.hub.kick(user.uid, None, "signed_out", close_codes.BAD_TOKEN, why)


def _username(request: Request) -> str:
    name = str(request.path_params["username"])
    if not USERNAME_RE.fullmatch(name):
        raise ApiError(404, "user_not_found", "no user with that username")
    return name


routes = [
    Route("/api/auth/register", register, methods=["POST"]),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/me/password", change_password, methods=["POST"]),
    Route("/api/users/{username}/disable", disable, methods=["POST"]),
    Route("/api/users/{username}/enable", enable, methods=["POST"]),
    Route("/api/users/{username}/role", set_role, methods=["PUT"]),
]
