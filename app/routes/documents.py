"""The warehouse's PDFs (staff): an order's packing slip and the pick list of accepted
orders (contract: Fulfillment v2). Rendered off the event loop (``checkout.documents``)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.accounts import User
from app.auth import require_user
from app.errors import ApiError
from app.fields import WAREHOUSE_RE
from app.http import Param, operation, path_id, state
from app.permissions import Action, authorize
from checkout import documents, orders
from checkout.models import MAIN, Order, OrderStatus, Product, Warehouse
from common.times import iso_utc, utc, utcnow

PICK_LIST_MAX = 5_000  # accepted orders on one pick list, oldest first


def _when(at: datetime | None) -> str | None:
    """A time as people read it on paper: ``2026-12-08 16:16 UTC``."""
    return None if at is None else utc(at).strftime("%Y-%m-%d %H:%M UTC")


def _pdf(content: bytes, filename: str) -> Response:
    headers = {"Content-Disposition": f'inline; filename="{filename}"'}
    return Response(content, media_type="application/pdf", headers=headers)


@operation("An order's packing slip, as PDF (staff): ship-to, the item, a Code 128 barcode "
           "of the order id", auth=True, responses={200: None, 401: None, 403: None, 404: None},
           tags=("fulfillment",))  # fmt: skip
async def packing_slip(request: Request) -> Response:
    authorize(await require_user(request), Action.FULFIL)
    st = state(request)
    order_id = path_id(request, "order")
    async with st.db.read() as session:
        order = await orders.get_order(session, order_id)
        product = await session.get(Product, order.product_id)
        buyer = await session.get(User, order.buyer_id)
    slip = documents.SlipOrder(
        order_id=order_id, buyer=buyer.username if buyer else str(order.buyer_id),
        title=product.title if product else f"product {order.product_id}",
        quantity=order.quantity, address=json.loads(order.shipping),
        ship_by=_when(order.ship_by), warehouse=order.warehouse,
    )  # fmt: skip
    content = await asyncio.to_thread(documents.packing_slip, slip)
    return _pdf(content, f"packing-slip-{order_id}.pdf")


@operation("The pick list of a warehouse, as PDF (staff): accepted orders' units grouped "
           "by product, each order with a Code 128 barcode of its id", auth=True,
           query={"warehouse": Param("the warehouse's code, any case (default MAIN)",
                                     {"type": "string", "maxLength": 16})},
           responses={200: None, 401: None, 403: None, 404: None, 422: None},
           tags=("fulfillment",))  # fmt: skip
async def pick_list(request: Request) -> Response:
    authorize(await require_user(request), Action.FULFIL)
    warehouse = (request.query_params.get("warehouse") or MAIN).upper()
    if len(warehouse) > 16:
        raise ApiError(422, "validation_error", "invalid warehouse",
                       fields={"warehouse": "a warehouse code: up to 16 characters"})  # fmt: skip
    async with state(request).db.read() as session:
        if not WAREHOUSE_RE.fullmatch(warehouse) or not await session.get(Warehouse, warehouse):
            raise ApiError(404, "unknown_warehouse", "no such warehouse (GET /api/warehouses)")
        rows = (
            await session.exec(
                select(Order.id, Order.product_id, Order.quantity)
                .where(Order.status == OrderStatus.ACCEPTED.value, Order.warehouse == warehouse)
                .order_by(col(Order.id))
                .limit(PICK_LIST_MAX)
            )
        ).all()
        ids = sorted({product_id for _id, product_id, _q in rows})
        titles = dict(
            (
                await session.exec(
                    select(Product.id, Product.title).where(col(Product.id).in_(ids))
                )
            ).all()
        )
    grouped: dict[int, list[tuple[int, int]]] = {}
    for order_id, product_id, quantity in rows:
        grouped.setdefault(product_id, []).append((order_id or 0, quantity))
    items = [documents.PickItem(p, titles.get(p, f"product {p}"), grouped[p]) for p in ids]
    content = await asyncio.to_thread(documents.pick_list, warehouse, items, iso_utc(utcnow()))
    return _pdf(content, f"pick-list-{warehouse}.pdf")


routes = [
    Route("/api/fulfillment/orders/{id}/packing-slip", packing_slip, methods=["GET"]),
    Route("/api/fulfillment/pick-list", pick_list, methods=["GET"]),
]
