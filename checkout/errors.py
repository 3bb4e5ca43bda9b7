"""Domain errors of the checkout package. ``CheckoutError`` is the root; each carries a code."""

from __future__ import annotations

from typing import Any


class CheckoutError(Exception):
    """Root of every error raised by ``checkout``. ``code`` is stable and machine-readable."""

    code = "checkout_error"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ProductNotFound(CheckoutError):
    code = "not_found"
