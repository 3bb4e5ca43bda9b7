// The fulfillment board's vocabulary: its stages, what staff may do at each status,
// which orders a filter keeps, the warehouses' names, and how times read ("23 Nov,
// 17:53", "2 h ago").

import { ApiError, describe } from "./api.js";

/** One queue per stage; refunded and cancelled orders are tucked under "Done". */
export const STAGES = [
  { key: "placed", label: "Placed", statuses: ["placed"] },
  { key: "accepted", label: "Accepted", statuses: ["accepted"] },
  { key: "picking", label: "Picking", statuses: ["picking"] },
  { key: "packed", label: "Packed", statuses: ["packed"] },
  { key: "shipped", label: "Shipped", statuses: ["shipped"] },
  { key: "delivered", label: "Delivered", statuses: ["delivered"] },
  { key: "return_requested", label: "Return requested", statuses: ["return_requested"] },
  { key: "returned", label: "Returned", statuses: ["returned"] },
  { key: "done", label: "Done", statuses: ["refunded", "cancelled"], note: "Refunded and cancelled" },
];
export const STATUSES = STAGES.flatMap((s) => s.statuses);
export const stageOf = (status) => STAGES.find((s) => s.statuses.includes(status)) || STAGES[0];

/** Not shipped yet: what a ship-by date still applies to (checkout/sla.py). */
export const UNSHIPPED = new Set(["placed", "accepted", "picking", "packed"]);
/** Work queues are worked oldest first; the others read newest first. */
export const OLDEST_FIRST = new Set(["placed", "accepted", "picking", "packed", "return_requested", "returned"]);
/** Statuses whose whole queue is read at load (up to ACTIVE_CAP); the rest only their newest page. */
export const HISTORY = new Set(["shipped", "delivered", "refunded", "cancelled"]);

/** The forward step from each status: the drawer's primary button. */
export const FORWARD = {
  accepted: { to: "picking", label: "Start picking" },
  picking: { to: "packed", label: "Mark packed" },
  packed: { to: "shipped", label: "Ship…", ask: "ship" },
  shipped: { to: "delivered", label: "Mark delivered" },
  return_requested: { to: "returned", label: "Receive return…", ask: "condition" },
};
/** Steps that lose money or the sale: kept apart, confirmed, with a reason. */
export const DESTRUCTIVE = {
  placed: { to: "cancelled", label: "Cancel order…" },
  accepted: { to: "cancelled", label: "Cancel order…" },
  picking: { to: "cancelled", label: "Cancel order…" },
  packed: { to: "cancelled", label: "Cancel order…" },
  returned: { to: "refunded", label: "Refund…" },
};
/** Why there is no forward step. */
export const WAITING = {
  placed: "Waiting for the fulfillment queue to accept it.",
  delivered: "Delivered. The buyer may still ask for a return.",
  returned: "Received back. Refund the buyer to close it.",
  refunded: "Refunded. Nothing left to do.",
  cancelled: "Cancelled. Nothing left to do.",
};
export const RETURN_REASONS = {
  damaged: "Damaged",
  wrong_item: "Wrong item",
  not_as_described: "Not as described",
  changed_mind: "Changed their mind",
  other: "Other",
};
export const STATUS_LABEL = {
  placed: "Placed", accepted: "Accepted", picking: "Picking", packed: "Packed", shipped: "Shipped",
  delivered: "Delivered", return_requested: "Return requested", returned: "Returned",
  refunded: "Refunded", cancelled: "Cancelled",
};
export const statusLabel = (status) => STATUS_LABEL[status] || String(status).replaceAll("_", " ");
export const PAYMENT_LABEL = {
  authorized: "Authorized (charged when it ships)",
  captured: "Captured (charged)",
  voided: "Voided (never charged)",
  refunded: "Refunded",
};

/** The buyer's username: the first history line is the buyer placing the order. */
export const buyerOf = (order) => order.history?.[0]?.by || `buyer #${order.buyer_id}`;

/** Late: the server says so, or it is still unshipped past its ship-by time. */
export function isLate(order, now = Date.now()) {
  return Boolean(order.late) || lateNow(order, now);
}

/** What `late=true` asks the server for: not shipped and past ship_by now. */
export function lateNow(order, now = Date.now()) {
  return UNSHIPPED.has(order.status) && Boolean(order.ship_by) && Date.parse(order.ship_by) < now;
}

/** The warehouse orders ship from when none is named (orders placed before warehouses). */
export const MAIN = "MAIN";
const sameCode = (a, b) => String(a || MAIN).toUpperCase() === String(b || MAIN).toUpperCase();

/** Whether any filter is set (the warehouse one included). */
export const isFiltered = ({ q = "", late = false, warehouse = "" } = {}) => Boolean(q || late || warehouse);

/** Whether an order belongs on the board under the filters (as the server's warehouse, q and
 * late match). */
export function matches(order, { q = "", late = false, warehouse = "" } = {}, now = Date.now()) {
  if (warehouse && !sameCode(order.warehouse, warehouse)) return false;
  if (late && !lateNow(order, now)) return false;
  const text = q.trim();
  if (!text) return true;
  if (/^\d{1,12}$/.test(text) && Number(text) === order.id) return true;
  if (buyerOf(order).toLowerCase() === text.toLowerCase()) return true;
  return order.tracking?.tracking_number === text;
}

/** The warehouses known (GET /api/warehouses): code → {code, name, country}. */
export const WAREHOUSES = new Map();

/** "BER — Berlin (DE)", or the bare code when the list could not be read. */
export function warehouseLabel(code = MAIN) {
  const w = WAREHOUSES.get(code);
  return w ? `${w.code} — ${w.name} (${w.country})` : code;
}

const sameYear = (d) => d.getFullYear() === new Date().getFullYear();

/** "23 Nov, 17:53" (with the year when it is not this year). */
export function dateTime(iso) {
  const d = new Date(iso);
  return d.toLocaleString(undefined, {
    day: "numeric", month: "short", year: sameYear(d) ? undefined : "numeric",
    hour: "numeric", minute: "2-digit",
  });
}

/** "under a minute", "5 min", "2 h", "3 d". */
export function span(ms) {
  const minutes = Math.floor(Math.abs(ms) / 60000);
  if (minutes < 1) return "under a minute";
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}

/** "2 h ago", "just now". */
export function ago(iso, now = Date.now()) {
  const ms = now - Date.parse(iso);
  return ms < 60000 ? "just now" : `${span(ms)} ago`;
}

/** Relative to a deadline: "due in 5 h" or "5 h overdue". */
export function due(iso, now = Date.now()) {
  const ms = Date.parse(iso) - now;
  return ms >= 0 ? `due in ${span(ms)}` : `${span(ms)} overdue`;
}

/** An API error in plain words, for a person at a packing table. */
export function plainError(error, subject = "This order") {
  if (!(error instanceof ApiError)) return "Something went wrong. Try again.";
  switch (error.code) {
    case "invalid_transition":
      return `${subject} could not move: ${error.message}. Someone may have changed it meanwhile; the board now shows where it is.`;
    case "not_shippable_together":
      return `These orders cannot go in one parcel: ${error.message}. Only packed orders of one buyer, to one address, from one warehouse, ship together.`;
    case "ticket_closed":
      return "This ticket is closed and takes no more messages.";
    case "forbidden":
      return "Your account is not allowed to do this (staff only).";
    case "not_found":
      return `${subject} was not found.`;
    case "authentication_required":
    case "invalid_token":
    case "token_expired":
    case "token_revoked":
      return "You are signed out. Sign in again and retry.";
    case "network_error":
      return "The server cannot be reached. Check the connection and try again.";
    default:
      return describe(error);
  }
}
