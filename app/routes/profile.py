"""Who am I, with my checkout profile: the saved shipping address and payment method.

The address is validated like an order's ``shipping``. A payment method is saved
from a token the payment provider's own page script made (the test provider takes
``tok_visa`` and ``tok_declined``); only the provider's references, the card's brand
and its last four digits are kept.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth import require_user
from app.http import operation, parse_body, respond, state
from app.permissions import Action, authorize
from app.profile_schemas import (
    AddressEnvelope,
    AddressIn,
    AddressOut,
    MeOut,
    PaymentMethodEnvelope,
    PaymentMethodIn,
    PaymentMethodOut,
)
from app.routes.accounts import user_out
from checkout import profile
from checkout.errors import InvalidPaymentMethod
from checkout.ports import SavedMethod

# Longer or odd tokens are refused here, without asking the provider.
MAX_TOKEN_LENGTH = 255


def method_out(method: SavedMethod | None) -> PaymentMethodOut | None:
    return None if method is None else PaymentMethodOut(brand=method.brand, last4=method.last4)


def address_out(address: dict[str, str] | None) -> AddressOut | None:
    return None if address is None else AddressOut.model_validate(address)


@operation(
    "The signed-in user, with the saved address and payment method (null until saved)",
    auth=True,
    responses={200: MeOut, 401: None},
    tags=("accounts",),
)
async def me(request: Request) -> Response:
    user = await require_user(request)
    async with state(request).db.read() as session:
        saved = await profile.read_profile(session, user.uid)
    return respond(MeOut(user=user_out(user), address=address_out(saved.address),
                         payment_method=method_out(saved.method)))  # fmt: skip


@operation(
    "Save my shipping address (replaces the one saved); orders may then omit shipping",
    auth=True,
    body=AddressIn,
    responses={200: AddressEnvelope, 401: None, 422: None},
    tags=("accounts",),
)
async def put_address(request: Request) -> Response:
    user = authorize(await require_user(request), Action.PLACE_ORDER)
    body = await parse_body(request, AddressIn)
    address = body.model_dump()
    async with state(request).db.write() as session:
        await profile.save_address(session, user.uid, address)
    return respond(AddressEnvelope(address=AddressOut.model_validate(address)))


def _checked_token(token: str) -> str:
    if not 1 <= len(token) <= MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        raise InvalidPaymentMethod("the payment method was not accepted")
    return token


@operation(
    "Save my payment method from a provider token (replaces the one saved); orders are "
    "then authorized with it",
    auth=True,
    body=PaymentMethodIn,
    responses={200: PaymentMethodEnvelope, 401: None, 422: None},
    tags=("accounts",),
)
async def put_payment_method(request: Request) -> Response:
    user = authorize(await require_user(request), Action.PLACE_ORDER)
    body = await parse_body(request, PaymentMethodIn)
    token = _checked_token(body.token)
    st = state(request)
    async with st.db.read() as session:
        customer = (await profile.read_profile(session, user.uid)).method
    # The provider is called outside any transaction: a network call holds no locks.
    method = await st.payments.save_method(
        token,
        customer.customer_ref if customer is not None else None,
        profile.account_reference(user.uid),
    )
    async with st.db.write() as session:
        await profile.save_method(session, user.uid, method)
    shown = PaymentMethodOut(brand=method.brand, last4=method.last4)
    return respond(PaymentMethodEnvelope(payment_method=shown))


routes = [
    Route("/api/me", me, methods=["GET"]),
    Route("/api/me/address", put_address, methods=["PUT"]),
    Route("/api/me/payment-method", put_payment_method, methods=["PUT"]),
]
