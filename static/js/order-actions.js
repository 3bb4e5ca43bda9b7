// What a buyer can do with an order on /orders (static/js/my-orders.js): cancel it behind a
// confirmation, and ask to return it; support tickets are in order-support.js. Each part keeps
// its own elements and only redraws what changed, so the page's refresh (every 20 s) never
// wipes a form being filled in or moves the focus.
//
// Every part gets the card's `ctx`: {id, me, order(), title(), apply(order), reloadOrder(),
// reloadTickets(), signIn(), focusCard()}.

import { ApiError, api, describe } from "./api.js";
import { busy, formError, formValues, h, money, replace } from "./dom.js";

/** Order statuses in the buyer's words. */
export const STATUS = {
  placed: "Placed",
  accepted: "Accepted",
  picking: "Being picked",
  packed: "Packed",
  shipped: "Shipped",
  delivered: "Delivered",
  return_requested: "Return requested",
  returned: "Returned",
  refunded: "Refunded",
  cancelled: "Cancelled",
};
/** The buyer may cancel until the order ships (docs/api.md, "Status machine"). */
export const CANCELLABLE = new Set(["placed", "accepted", "picking", "packed"]);
const RETURNED = new Set(["return_requested", "returned", "refunded"]);
export const REASONS = {
  damaged: "It arrived damaged",
  wrong_item: "I got the wrong item",
  not_as_described: "It is not as described",
  changed_mind: "I changed my mind",
  other: "Another reason",
};
/** A <time> with the date (and time) in the reader's locale; the year only when not this one. */
export function when(iso, { time = true, weekday = false } = {}) {
  const date = new Date(iso);
  const options = { day: "numeric", month: "short" };
  if (date.getFullYear() !== new Date().getFullYear()) options.year = "numeric";
  if (weekday) options.weekday = "short";
  if (time) Object.assign(options, { hour: "2-digit", minute: "2-digit" });
  return h("time", { datetime: iso }, date.toLocaleString(undefined, options));
}

/** A refusal in plain words; `status` is the order's status once read again. */
export function plainError(error, { action = "", status = null } = {}) {
  if (!(error instanceof ApiError)) return "Something went wrong. Try again.";
  if (error.code === "invalid_transition" && action === "cancel") {
    if (status === "cancelled") return "This order is already cancelled.";
    return "It is too late to cancel: this order has already shipped. Once it is delivered you can return it.";
  }
  if (error.code === "invalid_transition" && action === "return") {
    if (RETURNED.has(status)) return "A return has already been asked for on this order.";
    return "A return can only be asked for once the order has been delivered.";
  }
  if (error.code === "ticket_closed") return "This conversation is closed, so your message was not sent.";
  if (error.status === 401) return "Your session has ended. Sign in again, then try once more.";
  if (error.code === "network_error") return "The server cannot be reached. Check your connection and try again.";
  if (error.code === "rate_limited") return "Too many tries in a row. Wait a moment, then try again.";
  if (error.status === 404) return "This order is not in your account any more.";
  return describe(error);
}

/** Cancel, behind a confirmation dialog ("Cancel order #N?"). */
export class CancelControl {
  constructor(ctx) {
    this.ctx = ctx;
    this.button = h(
      "button",
      {
        type: "button",
        class: "btn btn-danger",
        "aria-haspopup": "dialog",
        "aria-label": `Cancel order #${ctx.id}`,
        on: { click: () => this.open() },
      },
      "Cancel order",
    );
    this.el = h("div", { class: "order-cancel" }, this.button);
  }

  update(order) {
    this.el.hidden = !CANCELLABLE.has(order.status);
  }

  open() {
    const { id } = this.ctx;
    const order = this.ctx.order();
    const confirm = h("button", { type: "submit", class: "btn btn-danger", id: "cancel-confirm" }, "Yes, cancel it");
    const keep = h("button", { type: "button", class: "btn", on: { click: () => dialog.close() } }, "Keep order");
    const promise = h("p", { class: "flush muted" }, "Your card will not be charged: the payment is released and the order will not ship.");
    const form = h(
      "form",
      { class: "stack" },
      h("p", { class: "flush" }, `${this.ctx.title()} × ${order.quantity} · `, money(order.total_cents, order.currency)),
      promise,
      h("div", { class: "row" }, confirm, keep),
    );
    const dialog = h(
      "dialog",
      { class: "dialog", id: "cancel-dialog", "aria-labelledby": "cancel-title" },
      h("h2", { id: "cancel-title" }, `Cancel order #${id}?`),
      form,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      formError(form, null);
      try {
        const { order: cancelled } = await busy(form, () =>
          api(`/api/orders/${id}/cancel`, { method: "POST" }),
        );
        this.ctx.apply(cancelled);
        dialog.close();
      } catch (error) {
        if (error.status === 401) {
          dialog.close();
          this.ctx.signIn();
          return;
        }
        const fresh = await this.ctx.reloadOrder();
        formError(form, plainError(error, { action: "cancel", status: fresh?.status }));
        if (fresh && !CANCELLABLE.has(fresh.status)) {
          confirm.remove();
          promise.remove();
          keep.textContent = "Close";
        }
      }
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      // Back to the button; once it has gone (cancelled, shipped), to the card.
      if (!this.el.hidden) this.button.focus();
      else this.ctx.focusCard();
    });
    document.body.append(dialog);
    dialog.showModal();
    keep.focus(); // the safe choice first
  }
}

/** Return: the form while delivered, then the return's RMA, reason, note and how it came back. */
export class ReturnSection {
  constructor(ctx) {
    this.ctx = ctx;
    const id = (name) => `order-${ctx.id}-${name}`;
    this.toggle = h(
      "button",
      {
        type: "button",
        class: "btn",
        "aria-expanded": "false",
        "aria-controls": id("return-form"),
        on: { click: () => this.show(this.form.hidden) },
      },
      "Return this item",
    );
    this.reason = h(
      "select",
      { id: id("reason"), name: "reason", "aria-describedby": id("reason-error") },
      h("option", { value: "" }, "Choose a reason"),
      Object.entries(REASONS).map(([value, text]) => h("option", { value }, text)),
    );
    this.reasonError = h("p", { class: "field-error", id: id("reason-error"), hidden: true });
    this.reason.addEventListener("change", () => {
      this.reasonError.hidden = true;
      this.reason.removeAttribute("aria-invalid");
    });
    this.note = h("textarea", { id: id("note"), name: "note", rows: 3, maxlength: 500, "aria-describedby": id("note-hint") });
    this.form = h(
      "form",
      { class: "stack return-form", id: id("return-form"), hidden: true, novalidate: true },
      h("div", { class: "field" }, h("label", { for: id("reason") }, "Why are you returning it?"), this.reason, this.reasonError),
      h(
        "div",
        { class: "field" },
        h("label", { for: id("note") }, "Anything we should know? (optional)"),
        this.note,
        h("p", { class: "muted small flush", id: id("note-hint") }, "Up to 500 characters."),
      ),
      h(
        "div",
        { class: "row" },
        h("button", { type: "submit", class: "btn btn-primary" }, "Request return"),
        h("button", { type: "button", class: "btn", on: { click: () => this.show(false) } }, "Not now"),
      ),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.infoTitle = h("h3", { id: id("return-title"), tabindex: "-1" });
    this.info = h("div", { class: "return-info", hidden: true });
    this.el = h(
      "div",
      { class: "order-return stack" },
      this.info,
      h("div", { class: "row" }, this.toggle),
      this.form,
    );
  }

  show(open) {
    this.form.hidden = !open;
    this.toggle.setAttribute("aria-expanded", String(open));
    if (open) this.reason.focus();
    else this.toggle.focus();
  }

  update(order) {
    const ret = order.return || (order.return_reason ? { rma: null, reason: "other", note: order.return_reason, condition: null } : null);
    const canAsk = order.status === "delivered" && !ret;
    this.toggle.parentElement.hidden = !canAsk;
    if (!canAsk) this.form.hidden = true;
    this.info.hidden = !ret || !RETURNED.has(order.status);
    this.el.hidden = !canAsk && this.info.hidden;
    if (!this.info.hidden) this.describe(order, ret);
  }

  describe(order, ret) {
    const rma = ret.rma ? ` — ${ret.rma}` : "";
    const total = money(order.total_cents, order.currency);
    const condition = { resellable: "in resellable condition", damaged: "damaged" }[ret.condition];
    const state = {
      return_requested: [`Return requested${rma}`, `Write ${ret.rma || "your order number"} on the parcel and send it back. We will tell you here when it arrives.`],
      returned: [`Return received${rma}`, `It came back${condition ? ` ${condition}` : ""}. Your refund of ${total} is on its way.`],
      refunded: [`Refunded${rma}`, `${total} went back to your card${condition ? `. It came back ${condition}` : ""}.`],
    }[order.status];
    this.infoTitle.textContent = state[0];
    replace(
      this.info,
      this.infoTitle,
      h("p", { class: "flush" }, state[1]),
      h(
        "dl",
        { class: "return-facts" },
        h("dt", {}, "Reason"),
        h("dd", {}, REASONS[ret.reason] || ret.reason),
        ret.note && [h("dt", {}, "Your note"), h("dd", { class: "pre-wrap" }, ret.note)],
        ret.condition && [h("dt", {}, "Condition when received"), h("dd", {}, ret.condition === "resellable" ? "Resellable" : "Damaged")],
      ),
    );
  }

  async submit() {
    const { reason, note } = formValues(this.form);
    formError(this.form, null);
    this.reasonError.hidden = true;
    this.reason.removeAttribute("aria-invalid");
    if (!reason) {
      this.reasonError.textContent = "Choose why you are returning it.";
      this.reasonError.hidden = false;
      this.reason.setAttribute("aria-invalid", "true");
      this.reason.focus();
      return;
    }
    const body = note ? { reason, note } : { reason };
    try {
      const { order } = await busy(this.form, () =>
        api(`/api/orders/${this.ctx.id}/return`, { method: "POST", body }),
      );
      this.form.reset();
      this.ctx.apply(order);
      this.infoTitle.focus();
    } catch (error) {
      if (error.status === 401) return this.ctx.signIn();
      const fresh = error.code === "invalid_transition" ? await this.ctx.reloadOrder() : null;
      formError(this.form, plainError(error, { action: "return", status: fresh?.status }));
    }
  }
}
