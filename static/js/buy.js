// Buy: quantity and shipping in a dialog, then POST /api/orders with an
// Idempotency-Key made per Buy click and reused when the same order is retried.

import { api, ApiError, describe } from "./api.js";
import { field } from "./auth.js";
import { busy, formError, formValues, h, money } from "./dom.js";

const SHIPPING_KEY = "livecart.shipping";

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // plain-http LAN pages
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function savedShipping() {
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

/**
 * Open the buy dialog for the card's product. onOrder(order) after the order is
 * placed; onSignIn() when the server says the user must sign in.
 */
export function openBuy(card, { liveId, onOrder, onSignIn }) {
  const product = card.product;
  const deal = card.runningDeal();
  const unit = deal ? deal.price_cents : product.price_cents;
  const max = Math.max(1, Math.min(product.stock, deal?.per_buyer_limit || 1000, 1000));
  const ship = savedShipping();
  let attempt = { key: newKey(), body: null }; // one key per Buy click

  const total = h("output", { id: "buy-total", for: "buy-quantity" });
  const form = h(
    "form",
    { class: "stack" },
    field("buy-quantity", "Quantity", {
      name: "quantity",
      type: "number",
      min: 1,
      max,
      value: 1,
      required: true,
      inputmode: "numeric",
    }),
    h("p", { class: "total" }, "Total: ", total),
    h(
      "fieldset",
      { class: "stack" },
      h("legend", {}, "Ship to"),
      field("ship-name", "Full name", { name: "name", autocomplete: "name", required: true, value: ship.name || "" }),
      field("ship-line1", "Address", { name: "line1", autocomplete: "address-line1", required: true, value: ship.line1 || "" }),
      field("ship-city", "City", { name: "city", autocomplete: "address-level2", required: true, value: ship.city || "" }),
      h(
        "div",
        { class: "row" },
        field("ship-postal", "Postal code", { name: "postal_code", autocomplete: "postal-code", required: true, value: ship.postal_code || "" }),
        field("ship-country", "Country (2 letters)", {
          name: "country",
          autocomplete: "country",
          required: true,
          pattern: "[A-Za-z]{2}",
          maxlength: 2,
          value: ship.country || "US",
          class: "input-short",
        }),
      ),
    ),
    h(
      "div",
      { class: "row" },
      h("button", { type: "submit", class: "btn btn-primary", id: "place-order" }, "Place order"),
      h("button", { type: "button", class: "btn", on: { click: () => dialog.close() } }, "Cancel"),
    ),
  );
  const quantity = form.elements.quantity;
  const showTotal = () => (total.textContent = money(unit * (Number(quantity.value) || 0), product.currency));
  quantity.addEventListener("input", showTotal);
  showTotal();

  const dialog = h(
    "dialog",
    { class: "dialog", id: "buy-dialog", "aria-labelledby": "buy-title" },
    h("h2", { id: "buy-title" }, `Buy ${product.title}`),
    h(
      "p",
      { class: "muted" },
      `${money(unit, product.currency)} each`,
      deal ? ` (deal price, max ${deal.per_buyer_limit || deal.remaining})` : "",
    ),
    form,
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = formValues(form);
    const shipping = {
      name: values.name,
      line1: values.line1,
      city: values.city,
      postal_code: values.postal_code,
      country: values.country.toUpperCase(),
    };
    const body = { product_id: product.id, quantity: Number(values.quantity), live_id: Number(liveId), shipping };
    const text = JSON.stringify(body);
    if (attempt.body !== null && attempt.body !== text) attempt = { key: newKey(), body: null };
    attempt.body = text; // a retry of the same order reuses the key: never two orders
    formError(form, null);
    try {
      const { order } = await busy(form, () =>
        api("/api/orders", { method: "POST", body, headers: { "Idempotency-Key": attempt.key } }),
      );
      localStorage.setItem(SHIPPING_KEY, JSON.stringify(shipping));
      dialog.close();
      onOrder(order);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        dialog.close();
        onSignIn();
        return;
      }
      formError(form, MESSAGES[error.code] || describe(error));
    }
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  quantity.focus();
}
