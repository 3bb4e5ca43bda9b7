"""The built-in test payment provider: no money moves, every call is recorded.

Saved methods come from test tokens: ``tok_visa`` (visa 4242, authorizations succeed)
and ``tok_declined`` (visa 0002, every authorization with it is declined); any other
token is refused. The method's kind is kept in its reference (``pm_test_visa_...``),
so any process, before or after a restart, knows it.

It also declines amounts above ``decline_over_cents`` so declines can be exercised, and
keeps the last ``RECORDED`` calls (a long-running process must not grow without end).
A real provider implements ``checkout.ports.PaymentProvider`` the same way.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field

from checkout.errors import InvalidPaymentMethod, PaymentDeclined
from checkout.ports import SavedMethod

RECORDED = 10_000
# token -> (kind kept in the method's reference, brand, last4)
TEST_TOKENS = {"tok_visa": ("visa", "visa", "4242"), "tok_declined": ("declined", "visa", "0002")}
DECLINED_PREFIX = "pm_test_declined_"


def _ref(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:20]}"


@dataclass
class TestPaymentProvider:
    decline_over_cents: int = 100_000_000
    calls: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=RECORDED))

    __test__ = False  # not a pytest test class

    async def save_method(self, token: str, customer: str | None, account: str) -> SavedMethod:
        known = TEST_TOKENS.get(token) if isinstance(token, str) else None
        if known is None:
            raise InvalidPaymentMethod(
                "the payment method was not accepted (test tokens: tok_visa, tok_declined)"
            )
        kind, brand, last4 = known
        customer_ref = customer if customer is not None else _ref("cus_test_")
        method = SavedMethod(customer_ref, _ref(f"pm_test_{kind}_"), brand, last4)
        self.calls.append(("save_method", method.method_ref))
        return method

    async def authorize(
        self, amount_cents: int, currency: str, reference: str, *,
        method: SavedMethod | None = None,
    ) -> str:  # fmt: skip
        if amount_cents > self.decline_over_cents or (
            method is not None and method.method_ref.startswith(DECLINED_PREFIX)
        ):
            raise PaymentDeclined(
                "the payment was declined", amount_cents=amount_cents, currency=currency
            )
        payment_ref = _ref("test_")
        self.calls.append(("authorize", payment_ref))
        return payment_ref

    async def capture(self, payment_ref: str) -> None:
        self.calls.append(("capture", payment_ref))

    async def void(self, payment_ref: str) -> None:
        self.calls.append(("void", payment_ref))

    async def refund(self, payment_ref: str) -> None:
        self.calls.append(("refund", payment_ref))
