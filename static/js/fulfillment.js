// /fulfillment: the staff board. One queue per stage with counts, filters, an order
// drawer, bundled shipping and the pick list. No polling: the /ws/fulfillment socket
// opens first; once it is signed in (its first pong) the board is read over REST, and
// every `order` frame is applied as it comes; `resync` or a reconnect reads it again.
// The warehouse filter lists GET /api/warehouses; the pick list is the chosen one's
// (MAIN's while all warehouses are shown).

import { api } from "./api.js";
import { mountHeader, openSignIn } from "./auth.js";
import { $, h, replace, toast } from "./dom.js";
import { MAIN, STAGES, WAREHOUSES, buyerOf, isFiltered, plainError, warehouseLabel } from "./board-model.js";
import { apply, listen, load, loadMore, refreshOrder, state, transition } from "./board-store.js";
import { BoardSocket } from "./board-socket.js";
import { buildNav, renderNav, renderQueue } from "./board-queue.js";
import { openDrawer, updateDrawer } from "./board-drawer.js";
import { shipDialog } from "./board-dialogs.js";
import { openPdf } from "./board-pdf.js";
import { loadDeadLetters } from "./board-dead.js";

const TICK_MS = 30000; // ages ("2 h ago") and late badges are redrawn from the local clock

const user = mountHeader();
const hashStage = () => (STAGES.some((s) => s.key === location.hash.slice(1)) ? location.hash.slice(1) : null);
state.stage = hashStage() || "accepted";
let socket = null;

listen({
  changed: (order) => {
    if (order) updateDrawer(order);
    render();
  },
  busy: (on) => {
    $("#queue").setAttribute("aria-busy", String(on));
    if (!on) $("#banner").hidden = true;
  },
  failed: (error) => {
    if (error.status === 401) return signedOut();
    if (error.status === 403) return notStaff();
    replace($("#banner"), `The board could not be read: ${plainError(error)} `,
      h("button", { type: "button", class: "btn btn-small", on: { click: load } }, "Try again"));
    $("#banner").hidden = false;
  },
});

let drawing = false;
function render() {
  if (drawing) return;
  drawing = true;
  requestAnimationFrame(() => {
    drawing = false;
    renderNav($("#stage-nav"), state);
    renderQueue(state, { rerender: render });
  });
}

function pick(stage) {
  state.stage = stage;
  history.replaceState(null, "", `#${stage}`);
  render();
}

function openOrder(id) {
  const order = state.orders.get(id);
  if (!order) return;
  openDrawer(order, {
    transition,
    onClose: (closed) => ($(`#queue [data-focus="open-${closed}"]`) || $("#queue-title")).focus(),
  });
}

function shipTogether() {
  const picked = [...state.selected].map((id) => state.orders.get(id)).filter((o) => o?.status === "packed");
  const ids = picked.map((o) => o.id).sort((a, b) => a - b);
  const to = picked[0]?.shipping || {};
  const buyers = [...new Set(picked.map(buyerOf))];
  const from = [...new Set(picked.map((o) => o.warehouse || MAIN))].sort();
  shipDialog({
    title: `Ship ${ids.length} orders together`,
    intro: h(
      "div",
      {},
      h("p", {}, `Orders ${ids.map((i) => `#${i}`).join(", ")} for ${buyers.join(" and ")}, to ${[to.name, to.city, to.country].filter(Boolean).join(", ")}: one parcel, one tracking number.`),
      buyers.length > 1 && h("p", { class: "board-warning" }, `These orders are for ${buyers.length} different buyers: only one buyer's orders, to one address, can ship together.`),
      from.length > 1 && h("p", { class: "board-warning" }, `These orders ship from ${from.length} warehouses (${from.join(", ")}): only orders from one warehouse can ship together.`),
    ),
    submitLabel: `Ship ${ids.length} orders`,
    onShip: async (tracking) => {
      try {
        await api("/api/fulfillment/shipments", { method: "POST", body: { order_ids: ids, ...tracking } });
      } catch (error) {
        if (error.code === "invalid_transition") await Promise.all(ids.map(refreshOrder));
        return plainError(error, "An order");
      }
      await Promise.all(ids.map(refreshOrder)); // the frames bring them too; this is for sure
      ids.forEach((id) => state.selected.delete(id));
      $("#ship-together").disabled = true; // now, so focus goes back to the queue's heading
      toast(`Shipped ${ids.length} orders together: ${tracking.carrier} · ${tracking.tracking_number}`, { kind: "ok" });
      render();
      return null;
    },
    returnFocus: () => $("#queue-title"),
  });
}

async function more() {
  try {
    await loadMore();
  } catch (error) {
    toast(`Older orders could not be read: ${plainError(error)}`, { kind: "warn" });
  }
}

const CONNECTION = {
  connecting: "Connecting…",
  live: "Live",
  offline: "Offline: the board may be out of date",
  unauthorized: "Signed out",
  forbidden: "No access",
};

function connection(status, detail) {
  const text = status === "reconnecting"
    ? detail.delay ? `Reconnecting in ${Math.ceil(detail.delay / 1000)} s…` : "Reconnecting…"
    : CONNECTION[status] || status;
  $("#conn").dataset.state = status;
  $("#conn-text").textContent = text;
  if (status === "unauthorized") signedOut();
  if (status === "forbidden") notStaff();
}

function signedOut() {
  socket?.stop();
  $("#board").hidden = true;
  replace($("#access-note"), h("p", {}, "The fulfillment board is for staff. Sign in with a staff account."),
    h("button", { type: "button", class: "btn btn-primary", on: { click: () => openSignIn() } }, "Sign in"));
  $("#access-note").hidden = false;
}

function notStaff() {
  socket?.stop();
  $("#board").hidden = true;
  $("#access-note").textContent = "The fulfillment board is for staff accounts only.";
  $("#access-note").hidden = false;
}

let warehousesRead = false;

/** Fill the warehouse filter (keeping the choice); on failure it offers "All warehouses" only. */
async function loadWarehouses() {
  let warehouses;
  try {
    ({ warehouses } = await api("/api/warehouses"));
  } catch {
    return; // read again once the socket is (re)connected
  }
  warehousesRead = true;
  WAREHOUSES.clear();
  warehouses.forEach((w) => WAREHOUSES.set(w.code, w));
  const select = $("#filter-warehouse");
  const chosen = select.value;
  replace(select, h("option", { value: "" }, "All warehouses"),
    warehouses.map((w) => h("option", { value: w.code }, warehouseLabel(w.code))));
  select.value = WAREHOUSES.has(chosen) ? chosen : "";
  render(); // the queue may now show a warehouse column
}

/** The pick list's warehouse: the chosen one, MAIN while all are shown. */
const pickWarehouse = () => $("#filter-warehouse").value || MAIN;

function labelPickList() {
  $("#pick-list").textContent = `Pick list ${pickWarehouse()} (PDF)`;
}

function wire() {
  buildNav($("#stage-nav"), pick);
  const form = $("#filters");
  let typing = null;
  const filter = () => {
    clearTimeout(typing);
    labelPickList();
    const filters = {
      q: form.elements.q.value.trim(),
      late: form.elements.late.checked,
      warehouse: form.elements.warehouse.value,
    };
    if (Object.keys(filters).every((key) => filters[key] === state.filters[key])) return;
    state.filters = filters;
    $("#clear-filters").hidden = !isFiltered(filters);
    load();
  };
  $("#clear-filters").addEventListener("click", () => {
    form.reset();
    filter();
    form.elements.q.focus();
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); filter(); });
  form.elements.q.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(filter, 400); });
  form.elements.late.addEventListener("change", filter);
  form.elements.warehouse.addEventListener("change", filter);
  $("#pick-list").addEventListener("click", async () => {
    $("#filter-error").hidden = true;
    const code = pickWarehouse();
    try {
      await openPdf(`/api/fulfillment/pick-list?warehouse=${encodeURIComponent(code)}`, `pick-list-${code}.pdf`);
    } catch (error) {
      $("#filter-error").textContent = `The pick list could not be opened. ${plainError(error)}`;
      $("#filter-error").hidden = false;
    }
  });
  $("#queue-rows").addEventListener("click", (event) => {
    const box = event.target.closest("[data-select]");
    if (box) {
      state.selected[box.checked ? "add" : "delete"](Number(box.dataset.select));
      return render();
    }
    const row = event.target.closest("tr[data-order-id]");
    if (!row) return;
    const cellBox = event.target.closest(".col-select")?.querySelector("input");
    if (cellBox) cellBox.click(); // the checkbox's cell is its target too
    else openOrder(Number(row.dataset.orderId));
  });
  $("#queue-head").addEventListener("change", (event) => {
    if (event.target.id !== "select-all") return;
    const packed = [...state.orders.values()].filter((o) => o.status === "packed");
    packed.forEach((o) => state.selected[event.target.checked ? "add" : "delete"](o.id));
    render();
  });
  $("#ship-together").addEventListener("click", shipTogether);
  $("#load-more").addEventListener("click", more);
  $("#dead-refresh").addEventListener("click", loadDeadLetters);
  addEventListener("hashchange", () => hashStage() && pick(hashStage()));
  setInterval(render, TICK_MS);
}

if (!user) {
  signedOut();
} else if (user.role !== "staff" && user.role !== "admin") {
  notStaff();
} else {
  wire();
  $("#board").hidden = false;
  render();
  loadWarehouses();
  socket = new BoardSocket({
    onReady: () => { load(); loadDeadLetters(); if (!warehousesRead) loadWarehouses(); },
    onOrder: apply,
    onResync: load,
    onStatus: connection,
  }).start();
}
