"""Register, log in, who am I."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import accounts
from app.accounts import Role, User
from app.auth import require_user
from app.http import operation, parse_body, respond, state
from app.schemas import AuthOut, LoginIn, RegisterIn, UserEnvelope, UserOut


def user_out(user: User) -> UserOut:
    return UserOut(id=user.uid, username=user.username, role=user.role)


@operation(
    "Create an account (viewer or creator) and get a token",
    body=RegisterIn,
    responses={201: AuthOut, 409: None, 422: None},
    tags=("accounts",),
)
async def register(request: Request) -> Response:
    body = await parse_body(request, RegisterIn)
    st = state(request)
    async with st.db.write() as session:
        user = await accounts.create_user(session, body.username, body.password, Role(body.role))
    return respond(AuthOut(user=user_out(user), token=st.tokens.issue(user.uid)), 201)


@operation(
    "Exchange username and password for a token",
    body=LoginIn,
    responses={200: AuthOut, 401: None, 422: None},
    tags=("accounts",),
)
async def login(request: Request) -> Response:
    body = await parse_body(request, LoginIn)
    st = state(request)
    async with st.db.read() as session:
        user = await accounts.authenticate(session, body.username, body.password)
    return respond(AuthOut(user=user_out(user), token=st.tokens.issue(user.uid)))


@operation(
    "The signed-in user", auth=True, responses={200: UserEnvelope, 401: None}, tags=("accounts",)
)
async def me(request: Request) -> Response:
    user = await require_user(request)
    return respond(UserEnvelope(user=user_out(user)))


routes = [
    Route("/api/auth/register", register, methods=["POST"]),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/me", me, methods=["GET"]),
]
