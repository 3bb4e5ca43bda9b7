"""Every domain error has an HTTP status and a stable code."""

from __future__ import annotations

import inspect

import pytest

from app.errors import DOMAIN_STATUS
from checkout import errors as checkout_errors
from live import errors as live_errors


def _domain_errors() -> list[type[Exception]]:
    found: list[type[Exception]] = []
    for module, root in [(live_errors, live_errors.LiveError),
                         (checkout_errors, checkout_errors.CheckoutError)]:  # fmt: skip
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, root) and cls is not root:
                found.append(cls)
    return found


@pytest.mark.parametrize("error", _domain_errors(), ids=lambda cls: cls.__name__)
def test_each_domain_error_has_its_own_status_and_code(error: type[Exception]) -> None:
    assert error in DOMAIN_STATUS, f"{error.__name__} falls back to a generic 400"
    assert 400 <= DOMAIN_STATUS[error] < 500
    code = getattr(error, "code", "")
    assert code and code == code.lower() and " " not in code
