"""Warehouses and each product's units in them (contract: Fulfillment v2).

Admins add warehouses; anyone signed in may list them (codes are what inventory and the
board's filters take). A product's creator and staff see and set its units per
warehouse; setting ``on_hand`` moves the product's ``stock`` by the difference, tells
the lives showing it, and hands new units to its waitlist first, in one transaction.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth import require_user
from app.errors import ApiError
from app.fields import WAREHOUSE_RE
from app.http import operation, parse_body, path_id, respond, state
from app.permissions import Action, Facts, authorize
from app.warehouse_schemas import (
    InventoryIn,
    InventoryLine,
    InventoryOut,
    WarehouseEnvelope,
    WarehouseIn,
    WarehouseList,
    WarehouseOut,
)
from checkout import catalog, inventory, warehouses
from checkout.models import Warehouse
from checkout.stock import Shelves, lock_showing
from checkout.waitlist import serve
from common.times import iso_utc


def warehouse_out(w: Warehouse) -> WarehouseOut:
    return WarehouseOut(code=w.code, name=w.name, country=w.country,
                        created_at=iso_utc(w.created_at))  # fmt: skip


@operation("Add a warehouse (admins)", auth=True, body=WarehouseIn,
           responses={201: WarehouseEnvelope, 401: None, 403: None, 409: None, 422: None},
           tags=("warehouses",))  # fmt: skip
async def create_warehouse(request: Request) -> Response:
    authorize(await require_user(request), Action.MANAGE_WAREHOUSES)
    body = await parse_body(request, WarehouseIn)
    async with state(request).db.write() as session:
        added = await warehouses.create(session, body.code, body.name, body.country)
    return respond(WarehouseEnvelope(warehouse=warehouse_out(added)), 201)


@operation("Every warehouse, MAIN first (signed in)", auth=True,
           responses={200: WarehouseList, 401: None}, tags=("warehouses",))  # fmt: skip
async def list_warehouses(request: Request) -> Response:
    await require_user(request)
    async with state(request).db.read() as session:
        found = await warehouses.listed(session)
    return respond(WarehouseList(warehouses=[warehouse_out(w) for w in found]))


async def _inventory(session: AsyncSession, product_id: int) -> InventoryOut:
    rows = await inventory.rows_of(session, product_id)
    lines = [InventoryLine(warehouse=r.warehouse, on_hand=r.on_hand, allocated=r.allocated)
             for r in rows]  # fmt: skip
    stock = sum(r.on_hand - r.allocated for r in rows)
    return InventoryOut(product_id=product_id, stock=stock, inventory=lines)


@operation("A product's units per warehouse (its creator, staff)", auth=True,
           responses={200: InventoryOut, 401: None, 403: None, 404: None},
           tags=("warehouses",))  # fmt: skip
async def get_inventory(request: Request) -> Response:
    user = await require_user(request)
    product_id = path_id(request, "product")
    async with state(request).db.read() as session:
        product = await catalog.get_product(session, product_id)
        authorize(user, Action.EDIT_INVENTORY, Facts(owner_id=product.creator_id))
        return respond(await _inventory(session, product_id))


@operation("Set a product's units on one warehouse's shelves (its creator, staff): the "
           "stock moves by the difference; on_hand below what is allocated is refused "
           "(409 below_allocated)", auth=True, body=InventoryIn,
           responses={200: InventoryOut, 401: None, 403: None, 404: None, 409: None,
                      422: None}, tags=("warehouses",))  # fmt: skip
async def put_inventory(request: Request) -> Response:
    user = await require_user(request)
    product_id = path_id(request, "product")
    code = str(request.path_params["code"]).upper()  # any case, as the board's filters
    if not WAREHOUSE_RE.fullmatch(code):
        raise ApiError(404, "unknown_warehouse", f"no warehouse {code[:32]}")
    body = await parse_body(request, InventoryIn)
    st = state(request)
    async with st.commerce.transaction() as unit:
        product = await catalog.get_product(unit.session, product_id)
        authorize(user, Action.EDIT_INVENTORY, Facts(owner_id=product.creator_id))
        lives = await lock_showing(unit.session, unit.deals, product_id)
        shelves = Shelves(unit.session, unit.announcer, lives)
        await shelves.put_on_hand(product_id, code, body.on_hand)
        await serve(unit, product_id, st.serving)  # new units: the waitlist first
        answer = await _inventory(unit.session, product_id)
    return respond(answer)


routes = [
    Route("/api/warehouses", create_warehouse, methods=["POST"]),
    Route("/api/warehouses", list_warehouses, methods=["GET"]),
    Route("/api/products/{id}/inventory", get_inventory, methods=["GET"]),
    Route("/api/products/{id}/inventory/{code}", put_inventory, methods=["PUT"]),
]
