"""Webhooks for shops (contract: Webhooks): a creator's endpoints, their deliveries,
sending one again. A creator sees only their own endpoints (others' are 404); admins
see all. In production an endpoint's host must resolve to public addresses — checked
here and again at every send (``checkout.webhook_delivery``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.accounts import Role, User
from app.auth import require_user
from app.errors import ApiError
from app.http import PAGE, enum_param, operation, page, parse_body, path_id, respond, state
from app.permissions import Action, authorize
from app.state import AppState
from app.webhook_schemas import (
    AttemptOut,
    DeliveryEnvelope,
    DeliveryList,
    DeliveryOut,
    WebhookEnvelope,
    WebhookIn,
    WebhookList,
    WebhookOut,
)
from app.webhook_worker import webhooks_may_reach_local
from checkout import webhooks
from checkout.webhook_delivery import Refused, target
from checkout.webhook_models import DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery
from common.times import iso_utc

_ERRORS = {401: None, 403: None, 404: None}


def webhook_out(w: Webhook, *, secret: bool = False) -> WebhookOut:
    return WebhookOut(
        id=w.id or 0, url=w.url, events=w.events.split(), status=w.status,
        failing_since=iso_utc(w.failing_since) if w.failing_since else None,
        disabled_at=iso_utc(w.disabled_at) if w.disabled_at else None,
        created_at=iso_utc(w.created_at), secret=w.secret if secret else None,
    )  # fmt: skip


def delivery_out(d: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryOut:
    pending = d.status == DeliveryStatus.PENDING.value
    return DeliveryOut(
        id=d.id or 0, event_id=d.event_id, type=d.type, status=d.status,
        attempts=[AttemptOut(at=iso_utc(a.at), status_code=a.status_code, error=a.error,
                             excerpt=a.excerpt, duration_ms=a.duration_ms) for a in attempts],
        next_attempt_at=iso_utc(d.next_attempt_at) if pending else None,
        delivered_at=iso_utc(d.delivered_at) if d.delivered_at else None,
        created_at=iso_utc(d.created_at), body=d.body,
    )  # fmt: skip


def _owner(user: User) -> int | None:
    """Whose endpoints ``user`` manages: their own; an admin's, everyone's (None)."""
    return None if user.role == Role.ADMIN else user.uid


async def _checked_url(st: AppState, url: str) -> None:
    """In production, a URL a delivery could reach now: public addresses only (in
    development anything goes, resolvable yet or not)."""
    if webhooks_may_reach_local(st.settings):
        return
    try:
        await target(url, allow_local=False)
    except Refused as exc:
        raise ApiError(422, "validation_error", "the webhook URL cannot be used",
                       fields={"url": str(exc)}) from None  # fmt: skip


@operation("Add a webhook endpoint (creators); its signing secret is in this answer only",
           auth=True, body=WebhookIn,
           responses={201: WebhookEnvelope, 401: None, 403: None, 409: None, 422: None},
           tags=("webhooks",))  # fmt: skip
async def create(request: Request) -> Response:
    user = authorize(await require_user(request), Action.MANAGE_WEBHOOKS)
    body = await parse_body(request, WebhookIn)
    st = state(request)
    await _checked_url(st, body.url)
    async with st.db.write() as session:
        added = await webhooks.create(session, user.uid, body.url, body.events)
    st.commerce.subscriptions.changed()
    return respond(WebhookEnvelope(webhook=webhook_out(added, secret=True)), 201)


@operation("My webhook endpoints (creators; admins: all)", auth=True,
           responses={200: WebhookList, 401: None, 403: None}, tags=("webhooks",))  # fmt: skip
async def list_webhooks(request: Request) -> Response:
    user = authorize(await require_user(request), Action.MANAGE_WEBHOOKS)
    async with state(request).db.read() as session:
        found = await webhooks.listed(session, _owner(user))
    return respond(WebhookList(webhooks=[webhook_out(w) for w in found]))


@operation("Remove a webhook endpoint: nothing more is sent to it", auth=True,
           responses={204: None, **_ERRORS}, tags=("webhooks",))  # fmt: skip
async def delete(request: Request) -> Response:
    user = authorize(await require_user(request), Action.MANAGE_WEBHOOKS)
    webhook_id = path_id(request, "webhook")
    st = state(request)
    async with st.db.write() as session:
        await webhooks.remove(session, await webhooks.owned(session, webhook_id, _owner(user)))
    st.commerce.subscriptions.changed()
    return Response(status_code=204)


@operation("Resume a disabled endpoint (new events; replay failed deliveries)", auth=True,
           responses={200: WebhookEnvelope, **_ERRORS}, tags=("webhooks",))  # fmt: skip
async def enable(request: Request) -> Response:
    user = authorize(await require_user(request), Action.MANAGE_WEBHOOKS)
    webhook_id = path_id(request, "webhook")
    st = state(request)
    async with st.db.write() as session:
        webhook = await webhooks.owned(session, webhook_id, _owner(user))
        webhook = await webhooks.enable(session, webhook)
    st.commerce.subscriptions.changed()
    return respond(WebhookEnvelope(webhook=webhook_out(webhook)))


@operation("An endpoint's deliveries, newest first, with every attempt", auth=True,
           query={"status": enum_param("only deliveries in this status",
                                       (s.value for s in DeliveryStatus)), **PAGE},
           responses={200: DeliveryList, **_ERRORS, 422: None}, tags=("webhooks",))  # fmt: skip
async def list_deliveries(request: Request) -> Response:
    user = authorize(await require_user(request), Action.MANAGE_WEBHOOKS)
    webhook_id = path_id(request, "webhook")
    status = request.query_params.get("status") or None
    if status is not None and status not in {s.value for s in DeliveryStatus}:
        raise ApiError(422, "validation_error", "unknown status",
                       fields={"status": "pending, delivered or failed"})  # fmt: skip
    limit, offset = page(request)
    async with state(request).db.read() as session:
        await webhooks.owned(session, webhook_id, _owner(user))
        found, attempts = await webhooks.deliveries(session, webhook_id, status=status,
                                                     limit=limit, offset=offset)  # fmt: skip
    return respond(DeliveryList(deliveries=[delivery_out(d, attempts[d.id or 0]) for d in found]))


@operation("Send a delivery again now (same event id and body), whatever its status",
           auth=True, responses={200: DeliveryEnvelope, **_ERRORS}, tags=("webhooks",))  # fmt: skip
async def replay(request: Request) -> Response:
    user = authorize(await require_user(request), Action.MANAGE_WEBHOOKS)
    webhook_id = path_id(request, "webhook")
    delivery_id = path_id(request, "delivery", "delivery_id")
    async with state(request).db.write() as session:
        webhook = await webhooks.owned(session, webhook_id, _owner(user))
        delivery = await webhooks.replay(session, webhook, delivery_id)
    return respond(DeliveryEnvelope(delivery=delivery_out(delivery, [])))


routes = [
    Route("/api/webhooks", create, methods=["POST"]),
    Route("/api/webhooks", list_webhooks, methods=["GET"]),
    Route("/api/webhooks/{id}", delete, methods=["DELETE"]),
    Route("/api/webhooks/{id}/enable", enable, methods=["POST"]),
    Route("/api/webhooks/{id}/deliveries", list_deliveries, methods=["GET"]),
    Route("/api/webhooks/{id}/deliveries/{delivery_id}/replay", replay, methods=["POST"]),
]
