"""One error shape for every 4xx, and the translation of domain errors into HTTP.

Every error answer is ``{"error": {"code", "message", "fields"?}}``. ``live``
and ``checkout`` raise their own exceptions with a ``code``; only this module
decides which HTTP status each one becomes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from checkout import errors as checkout_errors
from checkout import webhooks
from live import errors as live_errors

log = logging.getLogger("livecart")


class ApiError(Exception):
    """An HTTP-level error raised by ``app``: status, code, message and optional field errors."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


# Domain error class → HTTP status. Looked up along the exception's MRO, so a
# subclass inherits its parent's status unless it is listed itself.
DOMAIN_STATUS: dict[type[Exception], int] = {
    live_errors.LiveError: 400,
    live_errors.LiveNotFound: 404,
    live_errors.InvalidState: 409,
    live_errors.InvalidModerator: 422,
    live_errors.ForeignProduct: 422,
    live_errors.DealExhausted: 409,
    live_errors.DealLimitReached: 409,
    live_errors.SignInRequired: 401,
    live_errors.InvalidText: 422,
    live_errors.BlockedWordUsed: 422,
    live_errors.Muted: 403,
    live_errors.Banned: 403,
    live_errors.ChatRateLimited: 429,
    live_errors.SlowModeActive: 429,
    live_errors.Unavailable: 429,  # busy: retry shortly (sockets get 1013)
    live_errors.InvalidTarget: 422,
    live_errors.ChatMessageNotFound: 404,
    live_errors.AuctionRunning: 409,
    live_errors.AuctionClosed: 409,
    live_errors.BidTooLow: 409,
    live_errors.InvalidBid: 422,
    live_errors.GiveawayRunning: 409,
    live_errors.GiveawayClosed: 409,
    live_errors.AlreadyEntered: 409,
    live_errors.KeywordInUse: 409,
    checkout_errors.CheckoutError: 400,
    checkout_errors.ProductNotFound: 404,
    checkout_errors.OrderNotFound: 404,
    checkout_errors.TicketNotFound: 404,
    checkout_errors.TicketClosed: 409,
    checkout_errors.NotShippableTogether: 409,
    checkout_errors.InsufficientStock: 409,
    checkout_errors.DealLimitExceeded: 409,
    checkout_errors.IdempotencyMismatch: 422,
    checkout_errors.InvalidTransition: 409,
    checkout_errors.LiveNotOpen: 409,
    checkout_errors.UnknownLive: 422,
    checkout_errors.PaymentDeclined: 402,
    checkout_errors.InvalidPaymentMethod: 422,
    checkout_errors.CheckoutProfileRequired: 409,
    checkout_errors.TrackingRequired: 422,
    checkout_errors.WarehouseNotFound: 404,
    checkout_errors.WarehouseExists: 409,
    checkout_errors.BelowAllocated: 409,
    checkout_errors.StockElsewhere: 409,
    checkout_errors.NotInShow: 422,
    webhooks.WebhookNotFound: 404,
    webhooks.TooManyWebhooks: 409,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "authentication_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


# Domain error data a client can act on, added to the error object (``bid_too_low``
# says the least bid that would be taken). Socket error frames also carry
# ``retry_after``; HTTP answers say it in a ``Retry-After`` header instead.
ERROR_EXTRAS = ("next_min_cents",)


def domain_details(
    exc: live_errors.LiveError | checkout_errors.CheckoutError, extras: tuple[str, ...]
) -> tuple[dict[str, str] | None, dict[str, Any]]:
    """A domain error's field error (``data["field"]`` names it) and the ``extras`` of its
    data, for an error answer or an error frame."""
    field = exc.data.get("field")
    fields = {field: exc.message} if isinstance(field, str) else None
    return fields, {k: exc.data[k] for k in extras if k in exc.data}


def error_body(
    code: str, message: str, fields: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, **extra}
    if fields:
        error["fields"] = fields
    return {"error": error}


def error_response(
    status: int,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = error_body(code, message, fields, **extra)
    return JSONResponse(body, status_code=status, headers=headers)


def _status_for(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 400


async def handle_api_error(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ApiError):  # pragma: no cover - registered for ApiError only
        raise exc
    return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)


async def handle_domain_error(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, live_errors.LiveError | checkout_errors.CheckoutError):
        raise exc  # pragma: no cover - registered for domain roots only
    fields, extra = domain_details(exc, ERROR_EXTRAS)
    return error_response(_status_for(exc), exc.code, exc.message, fields, **extra)


async def handle_http_exception(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover
        raise exc
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def handle_overload(_request: Request, _exc: Exception) -> Response:
    # Every database connection stayed busy for the pool timeout: too much at once.
    return error_response(429, "busy", "the server is busy; retry shortly",
                          headers={"Retry-After": "1"})  # fmt: skip


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    # A bug, not an input problem: log it with the request line and answer in the same shape.
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: handle_api_error,
    live_errors.LiveError: handle_domain_error,
    checkout_errors.CheckoutError: handle_domain_error,
    HTTPException: handle_http_exception,
    PoolTimeout: handle_overload,
    Exception: handle_unexpected,
}
