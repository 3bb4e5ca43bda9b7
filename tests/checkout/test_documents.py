"""The warehouse's PDFs (contract: Fulfillment v2): a packing slip and a pick list that
parse as PDF (pypdf), whose text names the orders, and whose barcodes are Code 128 of the
order ids; staff only. SQLite and PostgreSQL, through the app."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader
from reportlab.graphics.barcode.code128 import Code128

from checkout.documents import PickItem, pick_list
from tests.http_helpers import assert_error
from tests.order_helpers import Shop


def text_of(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def get(shop: Shop, path: str, who: Any = None) -> Any:
    return shop.client.get(path, headers=shop.api.auth(who or shop.staff))


def test_a_packing_slip_names_the_order_and_its_address(shop: Shop) -> None:
    order = shop.accepted(quantity=2)
    resp = get(shop, f"/api/fulfillment/orders/{order['id']}/packing-slip")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF-")
    text = text_of(resp.content)
    for expected in (f"Order #{order['id']}", "Ada Lovelace", "12 St James's Square",
                     "SW1Y 4JH London", "2 x Mug", "buyer", "Warehouse: MAIN"):  # fmt: skip
        assert expected in text, (expected, text)
    assert_error(get(shop, "/api/fulfillment/orders/999999/packing-slip"), 404)
    assert_error(get(shop, f"/api/fulfillment/orders/{order['id']}/packing-slip", shop.buyer), 403)


def test_the_pick_list_groups_accepted_orders_by_product(shop: Shop) -> None:
    mug = [shop.accepted(quantity=q) for q in (1, 3)]
    lamp_id = shop.api.product(shop.owner, title="Lamp", price_cents=500, stock=5)["id"]
    lamp = shop.accepted(product_id=lamp_id, quantity=2)
    picked = shop.accepted()
    shop.move(picked["id"], "picking")  # no longer to pick
    resp = get(shop, "/api/fulfillment/pick-list?warehouse=MAIN")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    text = text_of(resp.content)
    assert "3 orders, 6 units, 2 products" in text, text
    assert "Mug (product" in text and ": 4 units" in text and ": 2 units" in text
    for order in (*mug, lamp):
        assert f"Order #{order['id']}" in text
    assert f"Order #{picked['id']}" not in text
    assert text.index("Mug") < text.index(f"Order #{mug[0]['id']}") < text.index("Lamp")
    assert get(shop, "/api/fulfillment/pick-list").status_code == 200  # MAIN by default
    assert_error(get(shop, "/api/fulfillment/pick-list?warehouse=NOPE"), 404, "unknown_warehouse")
    assert_error(get(shop, "/api/fulfillment/pick-list", shop.buyer), 403)


def test_each_order_has_a_code_128_barcode_of_its_id() -> None:
    """Each order's line: reportlab's Code 128 of the id (its check symbol computed from
    the id) with the id printed beside it; long lists break across pages."""
    code = Code128("123456")
    code.validate()
    code.encode()
    assert code.valid and code.value == "123456"
    assert code.decompose()  # start, data, check and stop symbols: what is drawn
    pdf = pick_list("MAIN", [PickItem(1, "Mug", [(123456, 1), (7, 2)])], "2026-12-05T16:00:00Z")
    text = text_of(pdf)
    assert "Order #123456 - 1 x" in text and "Order #7 - 2 x" in text
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    many = pick_list("MAIN", [PickItem(1, "Mug", [(i, 1) for i in range(1, 200)])], "now")
    assert len(PdfReader(io.BytesIO(many)).pages) > 1  # page breaks, nothing cut off
    assert "Order #199 - 1 x" in text_of(many)
