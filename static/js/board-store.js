// The board's orders: read over REST (every page of the work queues, the newest page of
// the others), kept up to date by the socket's `order` frames and by the answers to staff
// actions. An order's history only grows, so a view with a shorter history is an older
// one and never replaces a newer.

import { api } from "./api.js";
import { toast } from "./dom.js";
import { HISTORY, STAGES, STATUSES, matches, statusLabel } from "./board-model.js";

const PAGE = 200; // orders per request (the API's maximum)
const ACTIVE_CAP = 2000; // per status, for the work queues; history queues read one page

export const state = {
  orders: new Map(), // id → order
  stage: "accepted",
  filters: { q: "", late: false, warehouse: "" }, // warehouse: a code, "" for all
  more: new Map(), // status → the server may hold more than was read
  offsets: new Map(), // status → orders read so far (for "Load older orders")
  selected: new Set(), // packed orders ticked for "Ship together"
};

let hooks = { changed: () => {}, failed: () => {}, busy: () => {} };
let touched = null; // ids changed by frames while a load runs
let generation = 0;

/** changed(order | null) after any change, failed(error) when a load fails, busy(bool). */
export function listen(handlers) {
  hooks = { ...hooks, ...handlers };
}

const query = (status, offset) => {
  const params = new URLSearchParams({ status, limit: PAGE, offset });
  if (state.filters.warehouse) params.set("warehouse", state.filters.warehouse);
  if (state.filters.late) params.set("late", "true");
  if (state.filters.q) params.set("q", state.filters.q);
  return `/api/fulfillment/orders?${params}`;
};

/** Read the whole board again (at start, on `resync`, after a reconnect, new filters). */
export async function load() {
  const mine = ++generation;
  touched = new Set();
  hooks.busy(true);
  const fresh = new Map();
  const more = new Map();
  const offsets = new Map();
  try {
    await Promise.all(STATUSES.map(async (status) => {
      const cap = HISTORY.has(status) ? PAGE : ACTIVE_CAP;
      let offset = 0;
      for (;;) {
        const { orders } = await api(query(status, offset));
        orders.forEach((o) => fresh.set(o.id, o));
        offset += orders.length;
        more.set(status, orders.length === PAGE && offset >= cap);
        if (orders.length < PAGE || offset >= cap) break;
      }
      offsets.set(status, offset);
    }));
  } catch (error) {
    if (mine === generation) {
      hooks.busy(false);
      hooks.failed(error);
    }
    return;
  }
  if (mine !== generation) return; // a newer load (new filters, a resync) supersedes this one
  // Frames that came while reading may be newer than what was read.
  for (const id of touched) {
    const seen = state.orders.get(id);
    const read = fresh.get(id);
    if (seen && matches(seen, state.filters) && (!read || seen.history.length > read.history.length)) fresh.set(id, seen);
  }
  touched = null;
  Object.assign(state, { orders: fresh, more, offsets });
  for (const id of state.selected) if (fresh.get(id)?.status !== "packed") state.selected.delete(id);
  hooks.busy(false);
  hooks.changed(null);
}

/** A view of an order (a frame or an answer): add, replace, or drop it under the filters. */
export function apply(order) {
  touched?.add(order.id);
  const shown = state.orders.get(order.id);
  if (shown && order.history.length < shown.history.length) return; // an older view
  if (matches(order, state.filters)) state.orders.set(order.id, order);
  else state.orders.delete(order.id);
  if (order.status !== "packed") state.selected.delete(order.id);
  hooks.changed(order);
}

/** The next page of the current stage's statuses that were cut short. */
export async function loadMore() {
  const stage = STAGES.find((s) => s.key === state.stage);
  await Promise.all(stage.statuses.filter((s) => state.more.get(s)).map(async (status) => {
    const offset = state.offsets.get(status) || 0;
    const { orders } = await api(query(status, offset));
    orders.forEach((o) => state.orders.has(o.id) || state.orders.set(o.id, o));
    state.offsets.set(status, offset + orders.length);
    state.more.set(status, orders.length === PAGE);
  }));
  hooks.changed(null);
}

/** Move an order one step; throws ApiError (after re-reading an order that moved meanwhile). */
export async function transition(order, to, extra = {}) {
  try {
    const path = `/api/fulfillment/orders/${order.id}/transition`;
    const { order: moved } = await api(path, { method: "POST", body: { to, ...extra } });
    apply(moved);
    toast(`Order #${order.id}: ${statusLabel(moved.status)}`, { kind: "ok", key: `order-${order.id}` });
    return moved;
  } catch (error) {
    if (error.code === "invalid_transition") await refreshOrder(order.id);
    throw error;
  }
}

/** Read one order again (GET /api/orders/{id}); failures are left to the caller's message. */
export async function refreshOrder(id) {
  try {
    apply((await api(`/api/orders/${id}`)).order);
  } catch {
    /* the error the caller shows says enough */
  }
}
