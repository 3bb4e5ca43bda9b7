"""The built-in test payment provider: no money moves, every call is recorded.

It declines amounts above ``decline_over_cents`` so declines can be exercised, and
keeps the last ``RECORDED`` calls (a long-running process must not grow without end).
A real provider implements ``checkout.ports.PaymentProvider`` the same way.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field

from checkout.errors import PaymentDeclined

RECORDED = 10_000


@dataclass
class TestPaymentProvider:
    decline_over_cents: int = 100_000_000
    calls: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=RECORDED))

    __test__ = False  # not a pytest test class

    async def authorize(self, amount_cents: int, currency: str, reference: str) -> str:
        if amount_cents > self.decline_over_cents:
            raise PaymentDeclined(
                "the payment was declined", amount_cents=amount_cents, currency=currency
            )
        payment_ref = f"test_{uuid.uuid4().hex[:20]}"
        self.calls.append(("authorize", payment_ref))
        return payment_ref

    async def capture(self, payment_ref: str) -> None:
        self.calls.append(("capture", payment_ref))

    async def void(self, payment_ref: str) -> None:
        self.calls.append(("void", payment_ref))

    async def refund(self, payment_ref: str) -> None:
        self.calls.append(("refund", payment_ref))
