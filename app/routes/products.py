"""Products: a creator's catalog."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth import optional_user, require_user
from app.errors import ApiError
from app.http import (
    PAGE,
    int_param,
    operation,
    page,
    parse_body,
    path_id,
    query_int,
    respond,
    state,
)
from app.permissions import Action, Facts, authorize
from app.schemas import (
    PRODUCT_REQUIRED,
    ProductEnvelope,
    ProductIn,
    ProductList,
    ProductOut,
    ProductPatch,
    explicit_nulls,
)
from checkout import catalog
from checkout.models import Product
from checkout.stock import Shelves, lock_showing
from checkout.waitlist import serve


def product_out(product: Product) -> ProductOut:
    return ProductOut.model_validate(product, from_attributes=True)


@operation(
    "Create a product (creators)",
    auth=True,
    body=ProductIn,
    responses={201: ProductEnvelope, 401: None, 403: None, 422: None},
    tags=("products",),
)
async def create_product(request: Request) -> Response:
    user = authorize(await require_user(request), Action.CREATE_PRODUCT)
    body = await parse_body(request, ProductIn)
    async with state(request).db.write() as session:
        product = await catalog.create_product(session, creator_id=user.uid, **body.model_dump())
    return respond(ProductEnvelope(product=product_out(product)), 201)


@operation(
    "List products, newest first",
    auth="optional",
    responses={200: ProductList, 422: None},
    query={"creator_id": int_param("only this creator's products", low=1), **PAGE},
    tags=("products",),
)
async def list_products(request: Request) -> Response:
    await optional_user(request)  # a bad token is still a 401, even where none is needed
    creator_id = query_int(request, "creator_id", low=1)
    limit, offset = page(request)
    async with state(request).db.read() as session:
        products = await catalog.list_products(
            session, creator_id=creator_id, limit=limit, offset=offset
        )
    return respond(ProductList(products=[product_out(p) for p in products]))


@operation("One product", responses={200: ProductEnvelope, 404: None}, tags=("products",))
async def get_product(request: Request) -> Response:
    product_id = path_id(request, "product")
    async with state(request).db.read() as session:
        product = await catalog.get_product(session, product_id)
    return respond(ProductEnvelope(product=product_out(product)))


@operation(
    "Change a product, e.g. restock (its creator)",
    auth=True,
    body=ProductPatch,
    responses={200: ProductEnvelope, 401: None, 403: None, 404: None, 422: None},
    tags=("products",),
)
async def update_product(request: Request) -> Response:
    user = await require_user(request)
    product_id = path_id(request, "product")
    body = await parse_body(request, ProductPatch)
    if nulls := explicit_nulls(body, PRODUCT_REQUIRED):
        raise ApiError(422, "validation_error", "the request has invalid fields", fields=nulls)
    changes = body.model_dump(exclude_unset=True)
    async with state(request).commerce.transaction() as unit:
        product = await catalog.get_product(unit.session, product_id)
        authorize(user, Action.EDIT_PRODUCT, Facts(owner_id=product.creator_id))
        stock = changes.pop("stock", None)
        if stock is not None:  # a restock: the lives showing it are told, locked first
            lives = await lock_showing(unit.session, unit.deals, product_id)
            await Shelves(unit.session, unit.announcer, lives).set_stock(product_id, stock)
            # A restock goes to the waitlist first, in this transaction.
            await serve(unit, product_id, state(request).serving)
            await unit.session.refresh(product)
        product = await catalog.update_product(unit.session, product, changes)
    return respond(ProductEnvelope(product=product_out(product)))


routes = [
    Route("/api/products", create_product, methods=["POST"]),
    Route("/api/products", list_products, methods=["GET"]),
    Route("/api/products/{id}", get_product, methods=["GET"]),
    Route("/api/products/{id}", update_product, methods=["PATCH"]),
]
