// The order drawer: everything needed to work one order — the next step (primary),
// the destructive steps (apart, confirmed, with a reason), the packing slip, the full
// shipping address, the item and payment, ship-by, the return, the whole history and
// the order's support tickets. A modal <dialog> on the right (full width on a phone);
// Escape or Close shuts it and focus goes back to the row that opened it.

import { h, money, replace } from "./dom.js";
import { DESTRUCTIVE, FORWARD, UNSHIPPED, WAITING, buyerOf, isLate, plainError, statusLabel } from "./board-model.js";
import { orderFacts } from "./board-facts.js";
import { receiveDialog, reasonDialog, shipDialog } from "./board-dialogs.js";
import { openPdf } from "./board-pdf.js";
import { ticketsSection } from "./board-tickets.js";

let current = null; // {dialog, main, order, error, ctx}

/** Open the drawer on `order`. ctx: transition(order, to, extra) → Promise, onClose(id). */
export function openDrawer(order, ctx) {
  current?.dialog.close();
  const main = h("div", { class: "drawer-main" });
  const title = h("h2", { id: "drawer-title", tabindex: "-1" }, `Order #${order.id}`);
  const dialog = h(
    "dialog",
    { class: "drawer", id: "order-drawer", "aria-labelledby": "drawer-title", dataset: { orderId: order.id } },
    h(
      "div",
      { class: "drawer-head" },
      title,
      h("button", { type: "button", class: "btn btn-quiet", on: { click: () => dialog.close() } }, "Close"),
    ),
    h("div", { class: "drawer-body" }, main, ticketsSection(order.id)),
  );
  current = { dialog, main, title, order, error: null, ctx };
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (current?.dialog === dialog) current = null;
    ctx.onClose(order.id);
  });
  render();
  document.body.append(dialog);
  dialog.showModal();
  title.focus();
}

/** A newer view of an order (a frame, an answer): redraw the drawer if it shows that order. */
export function updateDrawer(order) {
  if (!current || current.order.id !== order.id) return;
  if (order.history.length < current.order.history.length) return;
  current.order = order;
  render();
}

function render() {
  const { main, order, dialog } = current;
  const focused = main.contains(document.activeElement) ? document.activeElement.dataset.focus || "primary" : null;
  replace(main, actions(order), orderFacts(order));
  if (focused) focusIn(focused);
  dialog.dataset.status = order.status;
}

function focusIn(key) {
  const target = current.main.querySelector(`[data-focus="${key}"]`) || current.main.querySelector('[data-focus="primary"]');
  (target || current.title).focus();
}

function actions(order) {
  const step = FORWARD[order.status];
  const danger = DESTRUCTIVE[order.status];
  const slip = h(
    "a",
    {
      class: "btn btn-small", href: `/api/fulfillment/orders/${order.id}/packing-slip`, dataset: { focus: "slip" },
      on: { click: (event) => { event.preventDefault(); pdf(order); } },
    },
    "Packing slip (PDF)",
  );
  return h(
    "section",
    { class: "drawer-actions", "aria-labelledby": "drawer-next" },
    h("h3", { id: "drawer-next", class: "visually-hidden" }, "Next step"),
    h(
      "p",
      { class: "drawer-status" },
      h("span", { class: `badge badge-${order.status}` }, statusLabel(order.status)),
      isLate(order) && h("span", { class: "badge badge-late" }, UNSHIPPED.has(order.status) ? "Late" : "Shipped late"),
    ),
    h(
      "div",
      { class: "row" },
      step &&
        h("button", {
          type: "button", class: "btn btn-primary", dataset: { focus: "primary", to: step.to },
          on: { click: (event) => forward(event.currentTarget, step) },
        }, step.label),
      slip,
    ),
    !step && h("p", { class: "muted flush" }, WAITING[order.status]),
    current.error && h("p", { class: "form-error", role: "alert" }, current.error),
    danger &&
      h(
        "div",
        { class: "drawer-danger" },
        h("button", {
          type: "button", class: "btn btn-danger", dataset: { focus: "danger", to: danger.to },
          on: { click: () => destroy(danger) },
        }, danger.label),
      ),
  );
}

async function pdf(order) {
  current.error = null;
  try {
    await openPdf(`/api/fulfillment/orders/${order.id}/packing-slip`, `packing-slip-${order.id}.pdf`);
  } catch (error) {
    current.error = `The packing slip could not be opened. ${plainError(error, `Order #${order.id}`)}`;
    render();
  }
}

/** Run a transition from the drawer: errors are kept and shown in it; null on success. */
async function move(to, extra = {}) {
  const { order, ctx } = current;
  current.error = null;
  try {
    await ctx.transition(order, to, extra);
    return null;
  } catch (error) {
    const message = plainError(error, `Order #${order.id}`);
    if (current?.order.id === order.id) {
      current.error = message;
      render();
    }
    return message;
  }
}

const primary = () => current?.main.querySelector('[data-focus="primary"]') || current?.title;

async function forward(button, step) {
  const id = current.order.id;
  if (step.ask === "ship") {
    shipDialog({ title: `Ship order #${id}`, onShip: (tracking) => move(step.to, tracking), returnFocus: primary });
  } else if (step.ask === "condition") {
    receiveDialog({ title: `Receive the return of order #${id}`, onReceive: (extra) => move(step.to, extra), returnFocus: primary });
  } else {
    button.disabled = true;
    const problem = await move(step.to);
    if (!problem && current) primary()?.focus();
    else if (button.isConnected) button.disabled = false;
  }
}

function destroy(danger) {
  const order = current.order;
  const total = money(order.total_cents, order.currency);
  const refund = danger.to === "refunded";
  reasonDialog({
    id: refund ? "refund-dialog" : "cancel-dialog",
    title: refund ? `Refund order #${order.id}?` : `Cancel order #${order.id}?`,
    consequence: refund
      ? `The whole total, ${total}, goes back to ${buyerOf(order)}'s card. This cannot be undone.`
      : `The payment of ${total} is voided and the units go back to stock. This cannot be undone.`,
    reasonLabel: refund ? "Reason for the refund" : "Reason for cancelling",
    confirmLabel: refund ? `Refund ${total}` : "Cancel the order",
    backLabel: refund ? "Don't refund" : "Keep the order",
    onConfirm: (note) => move(danger.to, { note }),
    returnFocus: primary,
  });
}
