"""Request and response bodies of warehouses and inventory (contract: Fulfillment v2)."""

from __future__ import annotations

from pydantic import BaseModel

from app.fields import Country, Name, RequestBody, Stock, WarehouseCode


class WarehouseIn(RequestBody):
    code: WarehouseCode
    name: Name
    country: Country  # ISO 3166-1 alpha-2: its holidays count for ship-by dates


class WarehouseOut(BaseModel):
    code: str
    name: str
    country: str
    created_at: str


class WarehouseEnvelope(BaseModel):
    warehouse: WarehouseOut


class WarehouseList(BaseModel):
    warehouses: list[WarehouseOut]


class InventoryIn(RequestBody):
    on_hand: Stock  # units on the warehouse's shelves (at least what is allocated)


class InventoryLine(BaseModel):
    warehouse: str
    on_hand: int  # on the shelves
    allocated: int  # promised to orders not shipped yet (and held auction/giveaway units)


class InventoryOut(BaseModel):
    product_id: int
    stock: int  # what the product can still sell: on_hand - allocated, summed
    inventory: list[InventoryLine]
