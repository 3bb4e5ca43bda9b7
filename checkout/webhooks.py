"""A creator's webhook endpoints: add (the secret shown once), list, remove, re-enable;
their deliveries and attempts; sending a delivery again.

A creator sees and changes only their own endpoints (others' are not found); the
events an endpoint receives are only ever about its creator's products and orders
(``checkout.webhook_events``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.errors import CheckoutError
from checkout.webhook_models import (
    DeliveryStatus,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookStatus,
)
from checkout.webhook_rules import new_secret
from common.times import utcnow

MAX_ENDPOINTS = 10  # per creator


class WebhookNotFound(CheckoutError):
    code = "not_found"


class TooManyWebhooks(CheckoutError):
    code = "too_many_webhooks"


async def create(
    session: AsyncSession, creator_id: int, url: str, events: Sequence[str]
) -> Webhook:
    if len(await listed(session, creator_id)) >= MAX_ENDPOINTS:
        raise TooManyWebhooks(f"at most {MAX_ENDPOINTS} endpoints per creator")
    webhook = Webhook(creator_id=creator_id, url=url, events=" ".join(sorted(set(events))),
                      secret=new_secret())  # fmt: skip
    session.add(webhook)
    await session.flush()
    return webhook


async def owned(session: AsyncSession, webhook_id: int, creator_id: int | None) -> Webhook:
    """The endpoint if ``creator_id`` owns it (None: an admin, any); else not found."""
    webhook = await session.get(Webhook, webhook_id)
    if (
        webhook is None
        or webhook.status == WebhookStatus.DELETED.value
        or (creator_id is not None and webhook.creator_id != creator_id)
    ):
        raise WebhookNotFound("webhook not found", webhook_id=webhook_id)
    return webhook


async def listed(session: AsyncSession, creator_id: int | None) -> Sequence[Webhook]:
    query = select(Webhook).where(Webhook.status != WebhookStatus.DELETED.value)
    if creator_id is not None:
        query = query.where(Webhook.creator_id == creator_id)
    return (await session.exec(query.order_by(col(Webhook.id)))).all()


async def fail_pending(session: AsyncSession, webhook_id: int) -> None:
    """Nothing more is sent to the endpoint: its pending deliveries fail (removed, or
    disabled after a day of failures)."""
    await session.exec(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.webhook_id) == webhook_id,
               col(WebhookDelivery.status) == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.FAILED.value, locked_until=None)
    )  # fmt: skip


async def remove(session: AsyncSession, webhook: Webhook) -> None:
    """Stop sending to it for good (its deliveries stay readable to admins)."""
    webhook.status = WebhookStatus.DELETED.value
    session.add(webhook)
    await fail_pending(session, webhook.id or 0)


async def enable(session: AsyncSession, webhook: Webhook) -> Webhook:
    """A disabled endpoint takes deliveries again (new events; failed ones may be replayed)."""
    webhook.status, webhook.failing_since, webhook.disabled_at = (
        WebhookStatus.ACTIVE.value,
        None,
        None,
    )
    session.add(webhook)
    await session.flush()
    return webhook


async def deliveries(
    session: AsyncSession, webhook_id: int, *, status: str | None, limit: int, offset: int
) -> tuple[Sequence[WebhookDelivery], dict[int, list[WebhookAttempt]]]:
    """One page of the endpoint's deliveries, newest first, with their attempts."""
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    query = query.order_by(col(WebhookDelivery.id).desc()).limit(limit).offset(offset)
    page = (await session.exec(query)).all()
    ids = [d.id or 0 for d in page]
    attempts: dict[int, list[WebhookAttempt]] = {i: [] for i in ids}
    if ids:
        rows = await session.exec(select(WebhookAttempt)
                                  .where(col(WebhookAttempt.delivery_id).in_(ids))
                                  .order_by(col(WebhookAttempt.id)))  # fmt: skip
        for attempt in rows.all():
            attempts[attempt.delivery_id].append(attempt)
    return page, attempts


async def replay(session: AsyncSession, webhook: Webhook, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again, now, with the same event id and body."""
    delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.webhook_id != webhook.id:
        raise WebhookNotFound("delivery not found", delivery_id=delivery_id)
    delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING.value, utcnow()
    delivery.locked_until, delivery.created_at = None, utcnow()  # a fresh 24 h of retries
    session.add(delivery)
    await session.flush()
    return delivery
