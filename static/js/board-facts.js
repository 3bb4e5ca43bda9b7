// The drawer's facts about an order: the full shipping address, the item and payment,
// the warehouse it ships from, placement and ship-by, tracking, the return and the whole
// history (dates, who, notes).

import { h, money } from "./dom.js";
import { productTitle } from "./products.js";
import {
  MAIN, PAYMENT_LABEL, RETURN_REASONS, UNSHIPPED, ago, buyerOf, dateTime, due, statusLabel, warehouseLabel,
} from "./board-model.js";

const CONDITION = { resellable: "Resellable (back in stock)", damaged: "Damaged (not restocked)" };

/** The sections under the drawer's actions. */
export function orderFacts(order) {
  return [address(order), item(order), dates(order), returned(order), history(order)];
}

const section = (id, heading, ...body) =>
  h("section", { class: "drawer-section", "aria-labelledby": id }, h("h3", { id }, heading), ...body);

const facts = (rows) =>
  h("dl", { class: "facts" }, rows.filter(Boolean).flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));

function address(order) {
  const s = order.shipping || {};
  return section(
    "drawer-ship-to",
    "Ship to",
    h(
      "address",
      { class: "ship-to" },
      [s.name, s.line1, [s.postal_code, s.city].filter(Boolean).join(" "), s.country]
        .filter(Boolean)
        .flatMap((line, i) => (i ? [h("br"), line] : [line])),
    ),
    h("p", { class: "muted small flush" }, `Buyer: ${buyerOf(order)}`),
  );
}

function item(order) {
  const title = h("span", {}, `product #${order.product_id}`);
  productTitle(order.product_id).then((t) => (title.textContent = t));
  return section(
    "drawer-item",
    "Item and payment",
    facts([
      ["Item", title],
      ["Quantity", String(order.quantity)],
      ["Price", `${order.quantity} × ${money(order.unit_price_cents, order.currency)} = ${money(order.total_cents, order.currency)}`],
      ["Payment", PAYMENT_LABEL[order.payment_status] || order.payment_status],
      ["Bought", order.live_id ? `${order.source || "live"} (live #${order.live_id})` : order.source || "direct"],
    ]),
  );
}

const when = (iso, relative) =>
  h("span", {}, h("time", { datetime: iso }, dateTime(iso)), h("span", { class: "muted" }, ` (${relative})`));

const shipByNote = (order) =>
  UNSHIPPED.has(order.status) ? due(order.ship_by)
    : order.status === "cancelled" ? "cancelled before shipping"
      : order.late ? "shipped late" : "shipped in time";

function dates(order) {
  const t = order.tracking;
  return section(
    "drawer-dates",
    "Shipping",
    facts([
      ["Ships from", warehouseLabel(order.warehouse || MAIN)],
      ["Placed", when(order.created_at, ago(order.created_at))],
      order.ship_by && ["Ship by", when(order.ship_by, shipByNote(order))],
      ["Tracking", t?.tracking_number ? `${t.carrier} · ${t.tracking_number}` : order.status === "cancelled" ? "Never shipped" : "Not shipped yet"],
      order.shipment_id && ["Shipment", `#${order.shipment_id} (shipped together with other orders)`],
    ]),
  );
}

function returned(order) {
  const r = order.return;
  if (!r) return null;
  return section(
    "drawer-return",
    "Return",
    facts([
      ["RMA", r.rma],
      ["Reason", RETURN_REASONS[r.reason] || r.reason],
      ["Buyer's note", r.note ? h("span", { class: "prewrap" }, r.note) : "None"],
      ["Condition", r.condition ? CONDITION[r.condition] || r.condition : "Not received yet"],
    ]),
  );
}

function history(order) {
  return section(
    "drawer-history",
    "History",
    h(
      "ol",
      { class: "history" },
      order.history.map((line) =>
        h(
          "li",
          {},
          h("strong", {}, statusLabel(line.status)),
          " · ",
          h("time", { datetime: line.at }, dateTime(line.at)),
          ` · by ${line.by}`,
          line.note && h("p", { class: "history-note prewrap" }, `Note: ${line.note}`),
        ),
      ),
    ),
  );
}
