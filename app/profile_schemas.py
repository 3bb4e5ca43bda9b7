"""Request and response shapes of the checkout profile (``/api/me``, its address and
payment method). The address is validated exactly like an order's ``shipping``."""

from __future__ import annotations

from pydantic import BaseModel, StrictStr

from app.fields import RequestBody
from app.schemas import ShippingIn, UserOut

AddressIn = ShippingIn


class AddressOut(BaseModel):
    name: str
    line1: str
    city: str
    postal_code: str
    country: str


class AddressEnvelope(BaseModel):
    address: AddressOut


class PaymentMethodIn(RequestBody):
    # Made by the payment provider's own page script (Stripe Elements, say); the test
    # provider knows tok_visa and tok_declined. Any other string: invalid_payment_method.
    token: StrictStr


class PaymentMethodOut(BaseModel):
    brand: str
    last4: str


class PaymentMethodEnvelope(BaseModel):
    payment_method: PaymentMethodOut


class MeOut(BaseModel):
    user: UserOut
    address: AddressOut | None
    payment_method: PaymentMethodOut | None
