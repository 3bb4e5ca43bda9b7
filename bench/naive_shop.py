"""A deliberately naive shop: read-then-write checkout, to show what livecart's atomic
statements prevent. NOT livecart, and never to be copied.

    NAIVE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/livecart_bench_naive \\
    SECRET_KEY=... python -m bench.naive_shop --port 8123 --workers 2

``POST /api/orders`` takes the same request as livecart (bearer token signed with
``app.tokens.TokenSigner``, ``Idempotency-Key`` header, ``{product_id, quantity,
shipping}``) and, in one READ COMMITTED transaction on its own two tables:

1. ``SELECT`` an order with this buyer and key; if there is one, answer it again;
2. ``SELECT stock``; if it is below the quantity, 409 ``insufficient_stock``;
3. ``UPDATE naive_products SET stock = <what it read - quantity>`` — no
   ``WHERE stock >= :q``, no ``SELECT ... FOR UPDATE``;
4. ``INSERT`` the order (no unique index on buyer + key).

Concurrent buyers all read the same stock and each write back their own
"stock − 1": lost updates, hence more orders than units; two requests with one
key both find no order yet and both insert one.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.tokens import TokenError, TokenSigner

SCHEMA = """
CREATE TABLE IF NOT EXISTS naive_products (
    id SERIAL PRIMARY KEY,
    stock INTEGER NOT NULL,
    price_cents INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS naive_orders (
    id SERIAL PRIMARY KEY,
    buyer_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    shipping TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_naive_orders_buyer ON naive_orders (buyer_id);
"""

_state: dict[str, Any] = {}


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def place(request: Request) -> Response:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    try:
        claims = _state["tokens"].verify(token.strip()) if scheme.lower() == "bearer" else None
        buyer_id = claims.user_id if claims is not None else None
    except TokenError:
        buyer_id = None
    if buyer_id is None:
        return error(401, "invalid_token", "sign in first")
    key = request.headers.get("idempotency-key", "")
    if not key:
        return error(400, "idempotency_key_required", "send an Idempotency-Key header")
    try:
        body = await request.json()
        product_id, quantity = int(body["product_id"]), int(body["quantity"])
        shipping = json.dumps(body["shipping"])
    except (ValueError, KeyError, TypeError):
        return error(422, "invalid_body", "bad order")
    pool: asyncpg.Pool = _state["pool"]
    async with pool.acquire() as conn, conn.transaction():
        earlier = await conn.fetchval(
            "SELECT id FROM naive_orders WHERE buyer_id = $1 AND idempotency_key = $2",
            buyer_id, key,
        )  # fmt: skip
        if earlier is not None:
            return JSONResponse({"order": {"id": earlier, "buyer_id": buyer_id}}, 201,
                                headers={"Idempotent-Replayed": "true"})  # fmt: skip
        row = await conn.fetchrow(
            "SELECT stock, price_cents FROM naive_products WHERE id = $1", product_id
        )
        if row is None:
            return error(404, "not_found", "product not found")
        stock, price = row["stock"], row["price_cents"]
        if stock < quantity:
            return error(409, "insufficient_stock", f"only {stock} left")
        await conn.execute(
            "UPDATE naive_products SET stock = $1 WHERE id = $2", stock - quantity, product_id
        )
        order_id = await conn.fetchval(
            "INSERT INTO naive_orders (buyer_id, product_id, quantity, idempotency_key, "
            "total_cents, shipping) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            buyer_id, product_id, quantity, key, price * quantity, shipping,
        )  # fmt: skip
    return JSONResponse(
        {"order": {"id": order_id, "buyer_id": buyer_id, "product_id": product_id,
                   "quantity": quantity, "status": "placed"}}, 201,
    )  # fmt: skip


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    url = os.environ["NAIVE_DATABASE_URL"]
    # The same number of connections per process as livecart's pool (10 + 20 overflow).
    pool = await asyncpg.create_pool(url, min_size=5, max_size=30)
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(4242)")
        try:
            await conn.execute(SCHEMA)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(4242)")
    _state["pool"] = pool
    _state["tokens"] = TokenSigner(os.environ["SECRET_KEY"], 7 * 24 * 3600)
    try:
        yield
    finally:
        await pool.close()


app = Starlette(
    routes=[
        Route("/api/orders", place, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", healthz, methods=["GET"]),
    ],
    lifespan=lifespan,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    uvicorn.run("bench.naive_shop:app", app_dir=str(Path(__file__).resolve().parent.parent),
                host="127.0.0.1", port=args.port, workers=args.workers, log_level="warning",
                lifespan="on")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
