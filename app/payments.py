"""Choosing the payment provider: the built-in test provider, or one named in settings.

``LIVECART_PAYMENTS=module:factory`` names a zero-argument callable (a class, say)
returning an object with ``checkout.ports.PaymentProvider``'s five coroutine
methods. It is imported and checked at start, so a typo stops the process
instead of failing the first order.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import cast

from app.settings import ConfigError, Settings
from checkout.payments import TestPaymentProvider
from checkout.ports import PaymentProvider

log = logging.getLogger("livecart")
METHODS = ("save_method", "authorize", "capture", "void", "refund")


def payment_provider(settings: Settings) -> PaymentProvider:
    if settings.payments == "test":
        if settings.env == "production":
            log.warning(
                "LIVECART_PAYMENTS=test in production: orders are authorized by the TEST "
                "payment provider and NO MONEY MOVES. Set LIVECART_PAYMENTS=module:factory "
                "to take real payments."
            )
        return TestPaymentProvider()
    module_name, _, attr = settings.payments.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
        provider = factory()
    except Exception as exc:  # any failure to build it is a configuration error
        raise ConfigError(f"LIVECART_PAYMENTS={settings.payments}: {exc!r}") from exc
    missing = [m for m in METHODS if not inspect.iscoroutinefunction(getattr(provider, m, None))]
    if missing:
        raise ConfigError(
            f"LIVECART_PAYMENTS={settings.payments} has no coroutine method(s) "
            f"{', '.join(missing)}: see checkout.ports.PaymentProvider"
        )
    return cast(PaymentProvider, provider)
