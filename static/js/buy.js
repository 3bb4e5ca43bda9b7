// Buy: quantity and shipping in a dialog, then POST /api/orders with an
// Idempotency-Key made per Buy click and reused when the same order is retried.
// The dialog follows the card while it is open: sold out, a deal that ends or sells out,
// this buyer's deal limit (see offer.js); it never places an order at a price it did not show.

import { addressFields, addressFrom, addressLine } from "./address.js";
import { clearFieldErrors, showFieldErrors } from "./field-errors.js";
import { api, ApiError, describe } from "./api.js";
import { field } from "./auth.js";
import { busy, formError, formValues, h, money } from "./dom.js";
import { currentOffer, noteFor, priceLine } from "./offer.js";
import { cardLine, currentProfile, openProfile, watchProfile } from "./profile.js";

const SHIPPING_KEY = "livecart.shipping";

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // plain-http LAN pages
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function storedShipping() {
  try {
    return JSON.parse(localStorage.getItem(SHIPPING_KEY) || "{}");
  } catch {
    return {};
  }
}

const MESSAGES = {
  insufficient_stock: "Not enough left for that quantity. Try fewer.",
  deal_limit_exceeded: "That is more than the deal allows per buyer.",
};

/** The "Ship to" fieldset: the saved address (a checkbox to use it) or the fields. */
function shipTo(saved) {
  const fields = h("div", { class: "stack" }, ...addressFields("ship", saved || storedShipping()));
  if (!saved) return { part: h("fieldset", { class: "stack" }, h("legend", {}, "Ship to"), fields), useSaved: null };
  const useSaved = h("input", { type: "checkbox", id: "buy-use-saved", name: "use_saved", checked: true });
  const part = h(
    "fieldset",
    { class: "stack" },
    h("legend", {}, "Ship to"),
    h("label", { class: "radio", for: "buy-use-saved" }, useSaved, " Use saved address"),
    h("p", { class: "muted flush", id: "buy-saved-address" }, addressLine(saved)),
    fields,
  );
  const sync = () => {
    fields.hidden = useSaved.checked;
    for (const input of fields.querySelectorAll("input")) input.disabled = useSaved.checked;
  };
  useSaved.addEventListener("change", sync);
  sync();
  return { part, useSaved };
}

/** The card the order is paid with, from the checkout profile (when the server has one). */
function payWith() {
  const text = h("span", { id: "buy-card-text" });
  const line = h(
    "div",
    { class: "buy-card", id: "buy-card" },
    h("p", { class: "flush" }, text, " ", h("button", { type: "button", class: "btn btn-small", on: { click: () => openProfile() } }, "Checkout profile")),
  );
  const show = () => {
    const profile = currentProfile();
    line.hidden = !profile?.supported;
    text.textContent = profile?.payment_method ? `Pay with ${cardLine(profile.payment_method)}.` : "No card saved.";
  };
  show();
  return { line, show };
}

/**
 * Open the buy dialog for the card's product. orders: the page's OrderTracker (this buyer's
 * deal use); onOrder(order) after the order is placed; onSignIn() when the server says the
 * user must sign in; source: "replay" for an order from the show's replay (list price).
 */
export function openBuy(card, options) {
  return new BuyDialog(card, options).open();
}

class BuyDialog {
  constructor(card, { liveId, orders, onOrder, onSignIn, source = null }) {
    Object.assign(this, { card, liveId, orders, onOrder, onSignIn, source });
    this.product = structuredClone(card.product);
    this.offer = currentOffer(card, this.product, orders, liveId);
    this.agreed = this.offer.unit; // the unit price the buyer has seen and goes along with
    this.attempt = { key: newKey(), body: null }; // one key per Buy click
    this.submitting = false;
    this.saved = currentProfile()?.address || null;
    this.ship = shipTo(this.saved);
    this.pay = payWith();
    this.build();
  }

  build() {
    this.total = h("output", { id: "buy-total", for: "buy-quantity" });
    this.price = h("p", { class: "muted buy-price", id: "buy-price" });
    this.noteText = h("p", { class: "flush" });
    this.accept = h("button", { type: "button", class: "btn", on: { click: () => this.agree() } });
    this.note = h("div", { class: "buy-note stack", role: "status" }, this.noteText, this.accept);
    this.place = h("button", { type: "submit", class: "btn btn-primary", id: "place-order" }, "Place order");
    const cancel = h("button", { type: "button", class: "btn", on: { click: () => this.dialog.close() } }, "Cancel");
    this.form = h(
      "form",
      { class: "stack" },
      field("buy-quantity", "Quantity", { name: "quantity", type: "number", min: 1, value: 1, required: true, inputmode: "numeric" }),
      h("p", { class: "total" }, "Total: ", this.total),
      this.note,
      this.ship.part,
      this.pay.line,
      h("div", { class: "row" }, this.place, cancel),
    );
    this.quantity = this.form.elements.quantity;
    this.dialog = h(
      "dialog",
      { class: "dialog", id: "buy-dialog", "aria-labelledby": "buy-title" },
      h("h2", { id: "buy-title" }, `Buy ${this.product.title}`),
      this.price,
      this.form,
    );
  }

  open() {
    const update = () => this.update();
    const unwatch = [this.card.watch(update), this.orders.watch(update), watchProfile(this.pay.show)];
    this.quantity.addEventListener("input", update);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.dialog.addEventListener("close", () => {
      unwatch.forEach((stop) => stop());
      this.dialog.remove();
    });
    this.update();
    document.body.append(this.dialog);
    this.dialog.showModal();
    this.quantity.focus();
    return this.dialog;
  }

  /** Re-read the offer; a higher price than agreed, or none left, blocks Place order. */
  update() {
    const { product } = this;
    const offer = (this.offer = currentOffer(this.card, product, this.orders, this.liveId));
    if (offer.unit < this.agreed) this.agreed = offer.unit;
    const said = noteFor(offer, this.agreed, product.currency);
    setText(this.price, priceLine(offer, product.currency));
    setText(this.total, money(offer.unit * (Number(this.quantity.value) || 0), product.currency));
    this.quantity.max = String(Math.max(1, Math.min(offer.max, 1000)));
    this.note.hidden = !said;
    setText(this.noteText, said?.text || "");
    this.accept.hidden = !said?.accept;
    setText(this.accept, said?.accept || "");
    this.place.disabled = Boolean(said) || this.submitting;
  }

  /** The buyer takes the new (higher) price. */
  agree() {
    this.agreed = this.offer.unit;
    this.update();
    this.place.focus();
  }

  /** The order to send: past the deal limit it goes without live_id (the list price). */
  body() {
    const values = formValues(this.form);
    const shipping = this.ship.useSaved?.checked ? this.saved : addressFrom(values);
    const body = { product_id: this.product.id, quantity: Number(values.quantity), shipping };
    if (!this.offer.limitUsed) body.live_id = Number(this.liveId);
    if (this.source) Object.assign(body, { source: this.source, live_id: Number(this.liveId) });
    return body;
  }

  async submit() {
    const { form } = this;
    this.update();
    if (this.place.disabled) return;
    const body = this.body();
    const text = JSON.stringify(body);
    if (this.attempt.body !== null && this.attempt.body !== text) this.attempt = { key: newKey(), body: null };
    this.attempt.body = text; // a retry of the same order reuses the key: never two orders
    const headers = { "Idempotency-Key": this.attempt.key };
    formError(form, null);
    clearFieldErrors(form);
    this.submitting = true;
    try {
      const { order } = await busy(form, () => api("/api/orders", { method: "POST", body, headers }));
      if (!this.ship.useSaved?.checked) localStorage.setItem(SHIPPING_KEY, JSON.stringify(body.shipping));
      this.dialog.close();
      this.onOrder(order);
    } catch (error) {
      // A refusal placed no order: the next try (another card, fewer units) gets a new key.
      if (error instanceof ApiError && error.status >= 400 && error.status < 500) this.attempt = { key: newKey(), body: null };
      if (error instanceof ApiError && error.status === 401) {
        this.dialog.close();
        this.onSignIn();
        return;
      }
      showError(form, error);
    } finally {
      this.submitting = false;
      if (this.dialog.open) this.update();
    }
  }
}

/** A refused order: field errors next to their fields, a card refusal next to the card. */
function showError(form, error) {
  if (error instanceof ApiError && error.status === 402) {
    const line = form.querySelector("#buy-card");
    const box = h("p", { class: "field-error", role: "alert" }, "The card was declined. Choose another card in your checkout profile.");
    if (line && !line.hidden) {
      line.append(box);
      return;
    }
  }
  if (error instanceof ApiError && error.fields) {
    const rest = showFieldErrors(form, error.fields);
    if (rest.length === 0) {
      formError(form, error.message);
      return;
    }
  }
  formError(form, MESSAGES[error.code] || describe(error));
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text; // no repeated announcement each second
}
