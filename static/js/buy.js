// Buy: quantity and shipping in a dialog, then POST /api/orders with an
// Idempotency-Key made per Buy click and reused when the same order is retried.
// The dialog follows the card while it is open: sold out, a deal that ends or sells out,
// this buyer's deal limit (see offer.js); it never places an order at a price it did not show.

import { addressFields, addressFrom, addressLine, clearFieldErrors, showFieldErrors } from "./address.js";
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
    h("p", { class: "flush" }, text, " ", h("button", { type: "button", class: "btn btn-quiet btn-small", on: { click: () => openProfile() } }, "Checkout profile")),
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
 * user must sign in.
 */
export function openBuy(card, { liveId, orders, onOrder, onSignIn }) {
  const product = structuredClone(card.product);
  let offer = currentOffer(card, product, orders, liveId);
  let agreed = offer.unit; // the unit price the buyer has seen and goes along with
  let attempt = { key: newKey(), body: null }; // one key per Buy click
  const saved = currentProfile()?.address || null;
  const ship = shipTo(saved);
  const pay = payWith();

  const total = h("output", { id: "buy-total", for: "buy-quantity" });
  const price = h("p", { class: "muted buy-price", id: "buy-price" });
  const noteText = h("p", { class: "flush" });
  const accept = h("button", { type: "button", class: "btn", on: { click: () => agree() } });
  const note = h("div", { class: "buy-note stack", role: "status" }, noteText, accept);
  const place = h("button", { type: "submit", class: "btn btn-primary", id: "place-order" }, "Place order");
  const form = h(
    "form",
    { class: "stack" },
    field("buy-quantity", "Quantity", { name: "quantity", type: "number", min: 1, value: 1, required: true, inputmode: "numeric" }),
    h("p", { class: "total" }, "Total: ", total),
    note,
    ship.part,
    pay.line,
    h("div", { class: "row" }, place, h("button", { type: "button", class: "btn", on: { click: () => dialog.close() } }, "Cancel")),
  );
  const quantity = form.elements.quantity;
  const dialog = h(
    "dialog",
    { class: "dialog", id: "buy-dialog", "aria-labelledby": "buy-title" },
    h("h2", { id: "buy-title" }, `Buy ${product.title}`),
    price,
    form,
  );

  /** Re-read the offer; a higher price than agreed, or none left, blocks Place order. */
  function update() {
    offer = currentOffer(card, product, orders, liveId);
    if (offer.unit < agreed) agreed = offer.unit;
    const said = noteFor(offer, agreed, product.currency);
    setText(price, priceLine(offer, product.currency));
    setText(total, money(offer.unit * (Number(quantity.value) || 0), product.currency));
    quantity.max = String(Math.max(1, Math.min(offer.max, 1000)));
    note.hidden = !said;
    setText(noteText, said?.text || "");
    accept.hidden = !said?.accept;
    setText(accept, said?.accept || "");
    place.disabled = Boolean(said) || submitting;
  }
  function agree() {
    agreed = offer.unit;
    update();
    place.focus();
  }
  let submitting = false;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    update();
    if (place.disabled) return;
    const values = formValues(form);
    const shipping = ship.useSaved?.checked ? saved : addressFrom(values);
    const body = { product_id: product.id, quantity: Number(values.quantity), shipping };
    if (!offer.limitUsed) body.live_id = Number(liveId); // past the deal limit: the list price
    const text = JSON.stringify(body);
    if (attempt.body !== null && attempt.body !== text) attempt = { key: newKey(), body: null };
    attempt.body = text; // a retry of the same order reuses the key: never two orders
    formError(form, null);
    clearFieldErrors(form);
    submitting = true;
    try {
      const { order } = await busy(form, () =>
        api("/api/orders", { method: "POST", body, headers: { "Idempotency-Key": attempt.key } }),
      );
      if (!ship.useSaved?.checked) localStorage.setItem(SHIPPING_KEY, JSON.stringify(shipping));
      dialog.close();
      onOrder(order);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        dialog.close();
        onSignIn();
        return;
      }
      showError(form, error);
    } finally {
      submitting = false;
      if (dialog.open) update();
    }
  });
  const unwatch = [card.watch(update), orders.watch(update), watchProfile(pay.show)];
  quantity.addEventListener("input", update);
  dialog.addEventListener("close", () => {
    unwatch.forEach((stop) => stop());
    dialog.remove();
  });
  update();
  document.body.append(dialog);
  dialog.showModal();
  quantity.focus();
}

/** A refused order: field errors next to their fields, a card refusal next to the card. */
function showError(form, error) {
  if (error instanceof ApiError && error.status === 402) {
    const line = form.querySelector("#buy-card");
    const box = h("p", { class: "field-error", role: "alert" }, `${error.message}. Choose another card in your checkout profile.`);
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
