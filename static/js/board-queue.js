// The board's stage navigation (a count per stage) and the one queue shown at a time: a
// table whose columns suit the stage (tracking once shipped, the RMA for returns, a
// checkbox to bundle packed orders, the warehouse when the rows may ship from several).
// On a phone each row reads as a card.

import { $, h, replace } from "./dom.js";
import { getProduct } from "./products.js";
import {
  MAIN, OLDEST_FIRST, RETURN_REASONS, STAGES, UNSHIPPED, ago, buyerOf, dateTime, due, isFiltered, isLate,
  WAREHOUSES, statusLabel, warehouseLabel,
} from "./board-model.js";

const titles = new Map(); // product id → title, once known

function titleOf(id, rerender) {
  if (titles.has(id)) return titles.get(id);
  titles.set(id, `product #${id}`);
  getProduct(id).then((p) => { titles.set(id, p.title); rerender(); }, () => {});
  return titles.get(id);
}

/** The orders of a stage, in working order (work queues oldest ship-by first). */
export function ordersOf(state, stage) {
  const list = [...state.orders.values()].filter((o) => stage.statuses.includes(o.status));
  if (!OLDEST_FIRST.has(stage.key)) return list.sort((a, b) => b.id - a.id);
  const shipBy = (o) => (o.ship_by && UNSHIPPED.has(o.status) ? Date.parse(o.ship_by) : Infinity);
  return list.sort((a, b) => shipBy(a) - shipBy(b) || a.id - b.id);
}

/** The navigation's buttons, made once; renderNav updates their counts in place. */
export function buildNav(list, onPick) {
  for (const stage of STAGES) {
    const button = h(
      "button",
      { type: "button", class: "stage", dataset: { stage: stage.key }, on: { click: () => onPick(stage.key) } },
      h("span", { class: "stage-name" }, stage.label),
      stage.note && h("span", { class: "visually-hidden" }, ` (${stage.note.toLowerCase()})`),
      h("span", { class: "stage-late" }),
      h("span", { class: "stage-count" }),
    );
    list.append(h("li", { class: stage.key === "done" ? "stage-done" : null }, button));
  }
}

let shownStage = null;

export function renderNav(list, state) {
  const now = Date.now();
  if (shownStage !== state.stage) {
    shownStage = state.stage;
    // A phone's strip scrolls sideways: bring the current stage into it (not the page).
    const button = list.querySelector(`[data-stage="${state.stage}"]`);
    const offset = button.getBoundingClientRect().left - list.getBoundingClientRect().left;
    if (offset < 0 || offset + button.offsetWidth > list.clientWidth) list.scrollLeft += offset - 8;
  }
  for (const stage of STAGES) {
    const button = list.querySelector(`[data-stage="${stage.key}"]`);
    const orders = ordersOf(state, stage);
    const more = stage.statuses.some((s) => state.more.get(s));
    const late = orders.filter((o) => UNSHIPPED.has(o.status) && isLate(o, now)).length;
    const words = orders.length === 1 && !more ? " order" : " orders";
    replace(button.querySelector(".stage-count"), `${orders.length}${more ? "+" : ""}`, h("span", { class: "visually-hidden" }, words));
    replace(button.querySelector(".stage-late"), late ? `${late} late` : "");
    if (stage.key === state.stage) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

function stageColumns(key) {
  if (key === "packed") return ["select", "order", "item", "qty", "buyer", "warehouse", "shipBy", "placed"];
  if (key === "shipped" || key === "delivered") return ["order", "item", "qty", "buyer", "warehouse", "tracking", "shipBy", "placed"];
  if (key === "return_requested" || key === "returned") return ["order", "item", "qty", "buyer", "warehouse", "ret", "tracking", "placed"];
  if (key === "done") return ["order", "status", "item", "qty", "buyer", "warehouse", "tracking", "placed"];
  return ["order", "item", "qty", "buyer", "warehouse", "shipBy", "placed"];
}

/** Whether the rows may ship from different warehouses: all are shown, and there are several. */
const manyWarehouses = (state) =>
  !state.filters.warehouse &&
  (WAREHOUSES.size > 1 || [...state.orders.values()].some((o) => (o.warehouse || MAIN) !== MAIN));

/** The stage's columns; the warehouse's only when it tells the rows apart. */
function columnsFor(key, state) {
  const columns = stageColumns(key);
  return manyWarehouses(state) ? columns : columns.filter((c) => c !== "warehouse");
}

const HEAD = {
  order: "Order", status: "Status", item: "Item", qty: "Qty", buyer: "Buyer", warehouse: "Warehouse",
  shipBy: "Ship by", placed: "Placed", tracking: "Tracking", ret: "Return",
};

const two = (main, sub) => [h("span", { class: "cell-main" }, main), sub && h("span", { class: "cell-sub" }, sub)];

function cell(column, order, ctx) {
  const { now, state } = ctx;
  switch (column) {
    case "select":
      return h("td", { class: "col-select" }, h("input", {
        type: "checkbox", checked: state.selected.has(order.id), dataset: { focus: `sel-${order.id}`, select: order.id },
        "aria-label": `Select order #${order.id} to ship together`,
      }));
    case "order":
      return h("th", { scope: "row", class: "col-order" }, h("button", {
        type: "button", class: "row-open", "aria-haspopup": "dialog", dataset: { focus: `open-${order.id}`, open: order.id },
      }, h("span", { class: "visually-hidden" }, "Order "), `#${order.id}`));
    case "status":
      return h("td", {}, h("span", { class: `badge badge-${order.status}` }, statusLabel(order.status)));
    case "item": {
      const title = titleOf(order.product_id, ctx.rerender);
      return h("td", { class: "col-item" }, h("span", { class: "clip item-title", title }, title));
    }
    case "qty":
      return h("td", { class: `col-qty${order.quantity > 1 ? " qty-many" : ""}` }, String(order.quantity));
    case "buyer":
      return h("td", { class: "col-buyer" }, h("span", { class: "clip", title: buyerOf(order) }, buyerOf(order)));
    case "warehouse": {
      const code = order.warehouse || MAIN;
      return h("td", { class: "col-warehouse" }, h("span", { class: "clip", title: warehouseLabel(code) }, code));
    }
    case "shipBy": {
      if (!order.ship_by) return h("td", {}, "—");
      const late = isLate(order, now);
      const badge = late && h("span", { class: "badge badge-late" }, UNSHIPPED.has(order.status) ? "Late" : "Shipped late");
      const sub = UNSHIPPED.has(order.status) ? due(order.ship_by, now) : null;
      return h(
        "td",
        { class: "col-time" },
        h("span", { class: "cell-main" }, h("time", { datetime: order.ship_by }, dateTime(order.ship_by))),
        (sub || badge) && h("span", { class: "cell-sub" }, badge, badge && sub ? " " : "", sub),
      );
    }
    case "placed":
      return h("td", { class: "col-time" }, two(h("time", { datetime: order.created_at }, dateTime(order.created_at)), ago(order.created_at, now)));
    case "tracking": {
      const t = order.tracking;
      if (!t?.tracking_number) return h("td", { class: "col-tracking" }, "—");
      const carrier = order.shipment_id ? `${t.carrier} · shipment #${order.shipment_id}` : t.carrier;
      return h("td", { class: "col-tracking", title: `${t.carrier} ${t.tracking_number}` },
        two(h("span", { class: "tracking-no" }, t.tracking_number), carrier));
    }
    case "ret": {
      const r = order.return;
      return h("td", { class: "col-ret" }, r ? two(r.rma, RETURN_REASONS[r.reason] || r.reason) : "—");
    }
    default:
      return h("td", {});
  }
}

// On a phone, where rows read as cards, these cells say what they are.
const LABELLED = new Set(["qty", "buyer", "warehouse", "shipBy", "placed", "tracking", "ret"]);
function labelled(column, el) {
  if (LABELLED.has(column)) el.dataset.label = HEAD[column];
  return el;
}

/** Draw the current stage's queue into the #queue section, keeping keyboard focus. */
export function renderQueue(state, { rerender }) {
  const stage = STAGES.find((s) => s.key === state.stage);
  const orders = ordersOf(state, stage);
  const columns = columnsFor(stage.key, state);
  const now = Date.now();
  const queue = $("#queue");
  const focused = queue.contains(document.activeElement) ? document.activeElement.dataset.focus : null;

  $("#queue-title").textContent = stage.label;
  const late = orders.filter((o) => UNSHIPPED.has(o.status) && isLate(o, now)).length;
  const byStatus = stage.statuses.length > 1 ? stage.statuses.map((s) => `${orders.filter((o) => o.status === s).length} ${statusLabel(s).toLowerCase()}`).join(" · ") : null;
  $("#queue-meta").textContent = [
    `${orders.length} order${orders.length === 1 ? "" : "s"}`,
    byStatus,
    late && `${late} late`,
    isFiltered(state.filters) && (state.filters.warehouse ? `filtered: ${state.filters.warehouse} only` : "filtered"),
    OLDEST_FIRST.has(stage.key) ? "most urgent first" : "newest first",
  ].filter(Boolean).join(" · ");

  const table = $("#queue-table");
  table.className = `queue-table stage-${stage.key}`;
  replace($("#queue-caption"), `${stage.label}: ${$("#queue-meta").textContent}`);
  replace($("#queue-head"), h("tr", {}, columns.map((c) =>
    c === "select"
      ? h("td", { class: "col-select" }, h("input", {
          type: "checkbox", id: "select-all", dataset: { focus: "select-all" }, "aria-label": "Select every packed order shown",
          checked: orders.length > 0 && orders.every((o) => state.selected.has(o.id)), disabled: !orders.length,
        }))
      : h("th", { scope: "col", class: `col-${c}` }, HEAD[c]),
  )));
  const ctx = { now, state, rerender };
  replace($("#queue-rows"), orders.length
    ? orders.map((o) => h("tr", { class: isLate(o, now) && UNSHIPPED.has(o.status) ? "is-late" : null, dataset: { orderId: o.id } }, columns.map((c) => labelled(c, cell(c, o, ctx)))))
    : h("tr", { class: "queue-empty" }, h("td", { colspan: columns.length }, emptyText(state, stage))));

  const more = stage.statuses.some((s) => state.more.get(s));
  $("#load-more").hidden = !more;
  renderBulk(state, stage, orders);
  if (focused && !queue.contains(document.activeElement)) queue.querySelector(`[data-focus="${focused}"]`)?.focus();
}

function emptyText(state, stage) {
  const none = stage.key === "done" ? "No refunded or cancelled orders" : `No ${stage.label.toLowerCase()} orders`;
  if (!isFiltered(state.filters)) return `${none}.`;
  const { q, late, warehouse } = state.filters;
  const head = warehouse && !q && !late ? `${none} ship from ${warehouse}.` : "Nothing here matches.";
  const elsewhere = STAGES.filter((s) => s !== stage)
    .map((s) => [s.label, ordersOf(state, s).length])
    .filter(([, n]) => n)
    .map(([name, n]) => `${name} (${n})`);
  if (elsewhere.length) return `${head} Matches in: ${elsewhere.join(", ")}.`;
  return head === "Nothing here matches." ? "No order matches the filters." : head;
}

function renderBulk(state, stage, orders) {
  const bulk = $("#bulk");
  bulk.hidden = stage.key !== "packed" || !orders.length;
  const picked = orders.filter((o) => state.selected.has(o.id)).length;
  $("#bulk-count").textContent = picked ? `${picked} selected` : "None selected";
  $("#ship-together").disabled = picked < 2;
}
