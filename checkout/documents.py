"""The warehouse's paper: packing slips and pick lists, as PDF (reportlab), each order
with a Code 128 barcode of its id and the id printed beside it.

Pure functions of what they show (no database, no clock): the caller reads the orders
and runs these off the event loop (a pick list of a thousand orders is CPU work).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

MARGIN = 15 * mm
LINE = 6 * mm
BAR_HEIGHT = 9 * mm


@dataclass(frozen=True)
class SlipOrder:
    """What a packing slip shows of one order."""

    order_id: int
    buyer: str
    title: str
    quantity: int
    address: dict[str, str]  # name, line1, city, postal_code, country
    ship_by: str | None  # ISO time, or None
    warehouse: str


@dataclass(frozen=True)
class PickItem:
    """One product to pick: every order that wants it, with its units."""

    product_id: int
    title: str
    orders: Sequence[tuple[int, int]]  # (order id, quantity)

    @property
    def units(self) -> int:
        return sum(quantity for _order_id, quantity in self.orders)


class _Page:
    """A canvas written top to bottom, starting a new page when a block does not fit."""

    def __init__(self, title: str) -> None:
        self.buffer = io.BytesIO()
        self.canvas = Canvas(self.buffer, pagesize=A4, pageCompression=1)
        self.canvas.setTitle(title)
        self.width, self.height = A4
        self.y = self.height - MARGIN

    def room(self, needed: float) -> None:
        if self.y - needed < MARGIN:
            self.canvas.showPage()
            self.y = self.height - MARGIN

    def text(self, value: str, *, size: int = 10, bold: bool = False, x: float = MARGIN) -> None:
        self.room(LINE)
        self.canvas.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        self.canvas.drawString(x, self.y - size, value[:120])
        self.y -= max(LINE, size + 4)

    def barcode(self, order_id: int, label: str, x: float = MARGIN) -> None:
        """The order id as Code 128, with ``label`` (which names the id) beside it."""
        self.room(BAR_HEIGHT + 2 * mm)
        code = Code128(str(order_id), barHeight=BAR_HEIGHT, barWidth=0.35 * mm, quiet=False)
        code.drawOn(self.canvas, x, self.y - BAR_HEIGHT)
        self.canvas.setFont("Helvetica", 10)
        self.canvas.drawString(x + code.width + 4 * mm, self.y - BAR_HEIGHT / 2 - 3, label)
        self.y -= BAR_HEIGHT + 2 * mm

    def done(self) -> bytes:
        self.canvas.showPage()
        self.canvas.save()
        return self.buffer.getvalue()


def packing_slip(order: SlipOrder) -> bytes:
    """One order's packing slip: ship-to, the item, and its barcode."""
    page = _Page(f"Packing slip, order {order.order_id}")
    page.text(f"Packing slip - order #{order.order_id}", size=16, bold=True)
    page.barcode(order.order_id, f"Order #{order.order_id}")
    page.text(f"Warehouse: {order.warehouse}")
    if order.ship_by:
        page.text(f"Ship by: {order.ship_by}")
    page.text("Ship to", bold=True)
    address = order.address
    for line in (address.get("name", ""), address.get("line1", ""),
                 f"{address.get('postal_code', '')} {address.get('city', '')}".strip(),
                 address.get("country", "")):  # fmt: skip
        if line:
            page.text(line, x=MARGIN + 4 * mm)
    page.text(f"Buyer: {order.buyer}")
    page.text("Items", bold=True)
    page.text(f"{order.quantity} x {order.title}", x=MARGIN + 4 * mm)
    return page.done()


def pick_list(warehouse: str, items: Sequence[PickItem], generated_at: str) -> bytes:
    """Accepted orders' units grouped by product, for one walk through the shelves; each
    order with its barcode."""
    page = _Page(f"Pick list, {warehouse}")
    page.text(f"Pick list - warehouse {warehouse}", size=16, bold=True)
    orders = sum(len(item.orders) for item in items)
    units = sum(item.units for item in items)
    page.text(f"{orders} orders, {units} units, {len(items)} products - {generated_at}")
    for item in items:
        page.room(LINE * 2 + BAR_HEIGHT)
        page.text(f"{item.title} (product {item.product_id}): {item.units} units", bold=True)
        for order_id, quantity in item.orders:
            page.barcode(order_id, f"Order #{order_id} - {quantity} x", x=MARGIN + 4 * mm)
    if not items:
        page.text("Nothing to pick: no accepted orders.")
    return page.done()
