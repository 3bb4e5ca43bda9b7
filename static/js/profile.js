// The checkout profile: the saved shipping address and card (GET /api/me, PUT /api/me/address,
// PUT /api/me/payment-method), kept here for the buy dialog, and the dialog that edits them.
// The card comes from the built-in test provider's tokens; a real deployment puts its payment
// provider's card form here instead (it produces the token that is sent).

import { ADDRESS_KEYS, addressFields, addressFrom, addressLine } from "./address.js";
import { clearFieldErrors, showFieldErrors } from "./field-errors.js";
import { api, ApiError, describe } from "./api.js";
import { busy, formError, formValues, h } from "./dom.js";

export const TEST_CARDS = [
  { token: "tok_visa", text: "Test Visa 4242" },
  { token: "tok_declined", text: "Test card that is declined" },
];

// null until loaded; `supported` is false when the server has no checkout profile.
let state = null;
const watchers = new Set();
let dialog = null;

/** The profile as last loaded or saved: {supported, address, payment_method}, or null. */
export const currentProfile = () => state;

/** Call fn(profile) after every change; returns an unwatch. */
export function watchProfile(fn) {
  watchers.add(fn);
  return () => watchers.delete(fn);
}

function change(next) {
  state = { ...state, ...next };
  for (const fn of watchers) fn(state);
}

/** GET /api/me for the saved address and card (signed-in pages only). */
export async function loadProfile() {
  try {
    const me = await api("/api/me");
    change({
      supported: Boolean(me) && "address" in me,
      address: me?.address ?? null,
      payment_method: me?.payment_method ?? null,
    });
  } catch {
    /* keep what we had: the profile is a convenience, buying works without it */
  }
  return state;
}

/** "Visa •••• 4242" */
export function cardLine(method) {
  if (!method) return "";
  const brand = method.brand ? method.brand[0].toUpperCase() + method.brand.slice(1) : "Card";
  return `${brand} •••• ${method.last4}`;
}

/** The "Checkout profile" dialog. Focus goes back where it was when it closes. */
export function openProfile() {
  dialog?.remove();
  const opener = document.activeElement;
  const close = () => dialog.close();
  const stops = [];
  dialog = h(
    "dialog",
    { class: "dialog", id: "profile-dialog", "aria-labelledby": "profile-title" },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: "profile-title" }, "Checkout profile"),
      h("button", { type: "button", class: "btn btn-quiet", on: { click: close } }, "Close"),
    ),
    h("p", { class: "muted" }, "Saved for buying: one tap needs both an address and a card."),
    addressForm(stops),
    cardForm(stops),
  );
  dialog.addEventListener("close", () => {
    stops.forEach((stop) => stop());
    dialog.remove();
    const back = opener?.isConnected ? opener : document.getElementById("account-button");
    back?.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  dialog.querySelector("input")?.focus();
  if (!state) loadProfile();
}

function savedText(kind) {
  if (kind === "address") return state?.address ? `Saved: ${addressLine(state.address)}` : "No saved address yet.";
  return state?.payment_method ? `Saved: ${cardLine(state.payment_method)}` : "No saved card yet.";
}

/** stops: gets the form's unwatch, called when the dialog closes. */
function addressForm(stops) {
  const now = h("p", { class: "profile-saved", id: "profile-address-now" }, savedText("address"));
  const ok = h("p", { class: "form-ok", role: "status" });
  const form = h(
    "form",
    { class: "stack account-section", "aria-labelledby": "profile-address-title" },
    h("h3", { id: "profile-address-title" }, "Shipping address"),
    now,
    ...addressFields("profile", state?.address || {}),
    ok,
    h("div", { class: "row" }, h("button", { type: "submit", class: "btn btn-primary" }, "Save address")),
  );
  // The saved address may arrive after the dialog opened (focus already in the form):
  // fill every field the buyer has not typed in, never one they have.
  const typed = new Set();
  form.addEventListener("input", (event) => typed.add(event.target.name));
  stops.push(watchProfile(() => {
    now.textContent = savedText("address");
    if (!state?.address) return;
    for (const key of ADDRESS_KEYS) {
      if (!typed.has(key)) form.elements[key].value = state.address[key] ?? "";
    }
  }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = addressFrom(formValues(form));
    save(form, ok, "Address saved.", async () => {
      const { address } = await api("/api/me/address", { method: "PUT", body });
      typed.clear(); // what was typed is what is saved now
      change({ address });
    });
  });
  return form;
}

function cardForm(stops) {
  const now = h("p", { class: "profile-saved", id: "profile-card-now" }, savedText("card"));
  const ok = h("p", { class: "form-ok", role: "status" });
  const select = h(
    "select",
    { id: "profile-card", name: "token", required: true },
    TEST_CARDS.map((card) => h("option", { value: card.token }, card.text)),
  );
  const form = h(
    "form",
    { class: "stack account-section", "aria-labelledby": "profile-card-title" },
    h("h3", { id: "profile-card-title" }, "Card"),
    now,
    h("div", { class: "field" }, h("label", { for: "profile-card" }, "Test card"), select),
    h(
      "p",
      { class: "muted small" },
      "This server takes test payments: pick a test card. A real shop shows its payment provider's card form here.",
    ),
    ok,
    h("div", { class: "row" }, h("button", { type: "submit", class: "btn btn-primary" }, "Save card")),
  );
  stops.push(watchProfile(() => (now.textContent = savedText("card"))));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const { token } = formValues(form);
    save(form, ok, "Card saved.", async () => {
      const { payment_method: method } = await api("/api/me/payment-method", { method: "PUT", body: { token } });
      change({ payment_method: method });
    });
  });
  return form;
}

/** Run a save: errors next to the fields they name (422), a card refusal (402) next to the card. */
async function save(form, ok, done, work) {
  formError(form, null);
  clearFieldErrors(form);
  ok.textContent = "";
  try {
    await busy(form, work);
  } catch (error) {
    const onCard = error instanceof ApiError && (error.status === 402 || error.code === "invalid_payment_method");
    const fields = onCard && !error.fields ? { token: error.message } : error instanceof ApiError ? error.fields : null;
    const rest = showFieldErrors(form, fields);
    if (!fields || rest.length) formError(form, fields ? `${error.message} (${rest.join("; ")})` : describe(error));
    return;
  }
  ok.textContent = done;
}
