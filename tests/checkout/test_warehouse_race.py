"""Warehouses under a stampede and with held units, against a real uvicorn on SQLite
and PostgreSQL: a flash sale spread over two warehouses never oversells either of them,
and an auction's unit is allocated where it was held, then becomes its winner's order
there (or sellable again there when nobody bids)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from typing import Any

from sqlmodel import select

from app.accounts import Role
from app.settings import Settings
from checkout.models import Inventory
from tests.auction_helpers import Stage, bid, close_now, with_profile
from tests.live_server import LiveServer, serve
from tests.order_helpers import SHIPPING, fresh_key
from tests.ws_helpers import Rest, Who, auth, make_user, rest_for

IN_GERMANY = {**SHIPPING, "city": "Berlin", "postal_code": "10115", "country": "DE"}


async def shelves(server: LiveServer, product_id: int) -> dict[str, tuple[int, int]]:
    async with server.state.db.read() as session:
        rows = await session.exec(select(Inventory).where(Inventory.product_id == product_id))
        return {r.warehouse: (r.on_hand, r.allocated) for r in rows.all()}


async def second_warehouse(rest: Rest, server: LiveServer, owner: Who, product_id: int,
                           main: int, berlin: int) -> None:  # fmt: skip
    admin = await make_user(server.state, "admin", Role.ADMIN)
    body = {"code": "BER", "name": "Berlin", "country": "DE"}
    added = await rest.http.post("/api/warehouses", headers=auth(admin), json=body)
    assert added.status_code == 201, added.text
    for code, units in (("MAIN", main), ("BER", berlin)):
        put = await rest.http.put(f"/api/products/{product_id}/inventory/{code}",
                                  json={"on_hand": units}, headers=auth(owner))  # fmt: skip
        assert put.status_code == 200, put.text


async def test_a_flash_sale_over_two_warehouses_never_oversells(
    rest: Rest, server: LiveServer
) -> None:
    owner = await rest.register("owner", "creator")
    product = await rest.product(owner, title="Mug", price_cents=900, stock=0)
    pid = product["id"]
    await second_warehouse(rest, server, owner, pid, main=7, berlin=5)
    buyers = [await make_user(server.state, f"buyer{i}", Role.VIEWER) for i in range(40)]

    async def buy(i: int, who: Who) -> Any:
        body = {"product_id": pid, "quantity": 1 + i % 2,
                "shipping": IN_GERMANY if i % 3 else SHIPPING}  # fmt: skip
        headers = {**auth(who), "Idempotency-Key": fresh_key()}
        return await rest.http.post("/api/orders", json=body, headers=headers)

    answers = await asyncio.gather(*(buy(i, b) for i, b in enumerate(buyers)))
    codes = Counter(r.status_code for r in answers)
    assert set(codes) <= {201, 409}, [r.text for r in answers if r.status_code not in (201, 409)]
    placed = [r.json()["order"] for r in answers if r.status_code == 201]
    by_warehouse = Counter[str]()
    for order in placed:
        by_warehouse[order["warehouse"]] += order["quantity"]
    assert by_warehouse["MAIN"] <= 7 and by_warehouse["BER"] <= 5, by_warehouse
    # Nothing fits any more: at most one unit is left, in one warehouse or the other.
    assert sum(by_warehouse.values()) >= 11
    figures = await shelves(server, pid)
    assert figures == {"MAIN": (7, by_warehouse["MAIN"]), "BER": (5, by_warehouse["BER"])}
    left = (await rest.http.get(f"/api/products/{pid}")).json()["product"]["stock"]
    assert left == 12 - sum(by_warehouse.values())


async def test_an_auction_unit_is_allocated_where_it_was_held(
    rest: Rest, server: LiveServer
) -> None:
    stage = await Stage.make(rest)  # 3 units on MAIN
    await second_warehouse(rest, server, stage.owner, stage.product_id, main=1, berlin=2)
    auction = await stage.start(duration_s=60)
    assert await shelves(server, stage.product_id) == {"MAIN": (1, 0), "BER": (2, 1)}
    winner = await with_profile(rest, await rest.register("wendy"))
    assert (await bid(rest, winner, auction["id"], 1_500)).status_code == 201
    await close_now(server.state, auction["id"])
    mine = (await rest.http.get("/api/orders", headers=auth(winner))).json()["orders"]
    assert [(o["source"], o["warehouse"]) for o in mine] == [("auction", "BER")]
    assert await shelves(server, stage.product_id) == {"MAIN": (1, 0), "BER": (2, 1)}

    unsold = await stage.start(duration_s=60)  # BER still has the most: 1 left there, 1 on MAIN
    assert await shelves(server, stage.product_id) == {"MAIN": (1, 0), "BER": (2, 2)}
    await close_now(server.state, unsold["id"])  # nobody bid: sellable again where held
    assert await shelves(server, stage.product_id) == {"MAIN": (1, 0), "BER": (2, 1)}
    stock = (await rest.http.get(f"/api/products/{stage.product_id}")).json()["product"]
    assert stock["stock"] == 2


async def test_mains_country_follows_the_setting_at_every_start(settings: Settings) -> None:
    for country in ("DE", "US"):
        async with (
            serve(replace(settings, main_country=country)) as server,
            rest_for(server.url) as rest,
        ):
            who = await rest.register(f"viewer{country.lower()}")
            found = await rest.http.get("/api/warehouses", headers=auth(who))
        assert found.json()["warehouses"][0] | {"created_at": None} == {
            "code": "MAIN",
            "name": "Main warehouse",
            "country": country,
            "created_at": None,
        }
