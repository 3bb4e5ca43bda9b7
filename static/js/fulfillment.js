// /fulfillment: orders in columns by status, refreshed by polling every 2 s
// (staff have no live socket). Only the transitions the state machine allows
// are offered; shipping asks for carrier and tracking number.

import { api, describe } from "./api.js";
import { field, mountHeader, openSignIn } from "./auth.js";
import { $, busy, clock, formError, formValues, h, label, money, replace, toast } from "./dom.js";
import { productTitle } from "./products.js";

const POLL_MS = 2000;
const DEAD_POLL_MS = 10000;
const COLUMNS = [
  "placed", "accepted", "picking", "packed", "shipped", "delivered",
  "return_requested", "returned", "refunded", "cancelled",
];
// What staff may do from each status ("accepted" is set by the queue only;
// "return_requested" by the buyer).
const NEXT = {
  placed: ["cancelled"],
  accepted: ["picking", "cancelled"],
  picking: ["packed", "cancelled"],
  packed: ["shipped", "cancelled"],
  shipped: ["delivered"],
  return_requested: ["returned"],
  returned: ["refunded"],
};
const ACTION = {
  picking: "Start picking",
  packed: "Mark packed",
  shipped: "Ship…",
  delivered: "Mark delivered",
  returned: "Mark returned",
  refunded: "Refund",
  cancelled: "Cancel",
};
const CARRIERS = ["UPS", "USPS", "FedEx", "DHL", "La Poste", "Royal Mail", "Canada Post"];

const user = mountHeader();
const columns = new Map(); // status → {section, list, count, signature}

function buildBoard() {
  const board = $("#board");
  for (const status of COLUMNS) {
    const count = h("span", { class: "badge" }, "0");
    const list = h("ol", { "aria-labelledby": `col-${status}` });
    const section = h(
      "section",
      { class: "column", dataset: { status } },
      h("h2", { id: `col-${status}` }, h("span", {}, label(status)), count),
      list,
    );
    columns.set(status, { section, list, count, signature: null });
    board.append(section);
  }
  board.hidden = false;
}

function orderCard(order) {
  const title = h("span", {}, `product #${order.product_id}`);
  productTitle(order.product_id).then((t) => (title.textContent = t));
  const ship = order.shipping || {};
  const tracking = order.tracking?.tracking_number
    ? h("p", {}, `${order.tracking.carrier} · ${order.tracking.tracking_number}`)
    : null;
  return h(
    "li",
    { class: "order-card", dataset: { orderId: order.id, status: order.status } },
    h("h3", {}, `#${order.id} · `, title, ` × ${order.quantity}`),
    h("p", { class: "muted" }, money(order.total_cents, order.currency), ` · payment ${label(order.payment_status)}`),
    h("p", {}, `To ${ship.name || "?"}, ${ship.city || "?"} ${ship.country || ""}`),
    tracking,
    h("p", { class: "muted" }, `Ordered ${clock(order.created_at)}`),
    h(
      "div",
      { class: "actions" },
      (NEXT[order.status] || []).map((to) =>
        h("button", {
          type: "button",
          class: `btn btn-small${to === "cancelled" ? " btn-danger" : to === "shipped" ? " btn-primary" : ""}`,
          dataset: { to },
          "aria-label": `${ACTION[to].replace("…", "")} order ${order.id}`,
          on: { click: () => (to === "shipped" ? openShip(order) : move(order, to)) },
        }, ACTION[to]),
      ),
    ),
  );
}

async function move(order, to, extra = {}) {
  try {
    await api(`/api/fulfillment/orders/${order.id}/transition`, { method: "POST", body: { to, ...extra } });
    toast(`Order #${order.id}: ${label(to)}`, { kind: "ok", key: `order-${order.id}` });
    await refresh();
    return null;
  } catch (error) {
    const message =
      error.code === "invalid_transition" ? `Order #${order.id} changed meanwhile: ${error.message}` : describe(error);
    toast(message, { kind: "warn" });
    refresh();
    return message;
  }
}

function openShip(order) {
  const form = h(
    "form",
    { class: "stack" },
    field("ship-carrier", "Carrier", { name: "carrier", required: true, list: "carriers", maxlength: 64 }),
    h("datalist", { id: "carriers" }, CARRIERS.map((c) => h("option", { value: c }))),
    field("ship-tracking", "Tracking number", { name: "tracking_number", required: true, maxlength: 64 }),
    h(
      "div",
      { class: "row" },
      h("button", { type: "submit", class: "btn btn-primary" }, "Mark shipped"),
      h("button", { type: "button", class: "btn", on: { click: () => dialog.close() } }, "Cancel"),
    ),
  );
  const dialog = h(
    "dialog",
    { class: "dialog", id: "ship-dialog", "aria-labelledby": "ship-title" },
    h("h2", { id: "ship-title" }, `Ship order #${order.id}`),
    form,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { carrier, tracking_number } = formValues(form);
    formError(form, null);
    const problem = await busy(form, () => move(order, "shipped", { carrier, tracking_number }));
    if (problem) formError(form, problem);
    else dialog.close();
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  form.elements.carrier.focus();
}

function renderColumn(status, orders) {
  const column = columns.get(status);
  const signature = orders.map((o) => `${o.id}:${o.status}:${o.history.length}`).join(",");
  column.count.textContent = String(orders.length);
  if (signature === column.signature) return; // unchanged: keep focus where it is
  column.signature = signature;
  replace(column.list, orders.length ? orders.map(orderCard) : h("li", { class: "muted" }, "Nothing here."));
}

let refreshing = null;

async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const results = await Promise.all(
        COLUMNS.map((status) => api(`/api/fulfillment/orders?status=${status}&limit=50`)),
      );
      COLUMNS.forEach((status, i) => renderColumn(status, results[i].orders));
      $("#updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
      $("#banner").hidden = true;
    } catch (error) {
      $("#banner").textContent = `The board cannot refresh: ${describe(error)}`;
      $("#banner").hidden = false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function refreshDead() {
  try {
    const { dead_letters } = await api("/api/fulfillment/dead-letters?limit=50");
    replace(
      $("#dead-letters"),
      dead_letters.length
        ? dead_letters.map((d) =>
            h(
              "tr",
              {},
              h("td", {}, String(d.id)),
              h("td", {}, d.order_id === null ? "—" : `#${d.order_id}`),
              h("td", {}, d.error),
              h("td", {}, String(d.attempts)),
              h("td", {}, new Date(d.created_at).toLocaleString()),
            ),
          )
        : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No dead letters. The queue is healthy.")),
    );
  } catch {
    /* shown by the board's banner */
  }
}

function loop(fn, ms) {
  const run = async () => {
    if (!document.hidden) await fn();
    setTimeout(run, ms);
  };
  run();
}

if (!user) {
  replace(
    $("#access-note"),
    h("p", {}, "The fulfillment board is for staff. Sign in with a staff account."),
    h("button", { type: "button", class: "btn btn-primary", on: { click: () => openSignIn() } }, "Sign in"),
  );
  $("#access-note").hidden = false;
} else if (user.role !== "staff" && user.role !== "admin") {
  $("#access-note").textContent = "The fulfillment board is for staff accounts only.";
  $("#access-note").hidden = false;
} else {
  buildBoard();
  $("#dead-panel").hidden = false;
  loop(refresh, POLL_MS);
  loop(refreshDead, DEAD_POLL_MS);
}
