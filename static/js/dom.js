// Small DOM helpers. Text from users and products only ever goes in through
// textContent (strings passed as children become text nodes): never as HTML.

/**
 * Create an element. props: {class, text, on: {event: fn}, ...attributes};
 * children: nodes or strings (strings become text nodes), null/false skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "on") {
      for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    } else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const formatters = new Map();

/** Integer minor units → "$12.99" (currency-aware). */
export function money(cents, currency = "USD") {
  let fmt = formatters.get(currency);
  if (!fmt) {
    try {
      fmt = new Intl.NumberFormat(undefined, { style: "currency", currency });
    } catch {
      fmt = { format: (v) => `${v.toFixed(2)} ${currency}` };
    }
    formatters.set(currency, fmt);
  }
  return fmt.format(cents / 100);
}

/** "2:05" for 125 seconds; "1:02:05" past an hour. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

export function clock(iso) {
  const date = iso instanceof Date ? iso : new Date(iso);
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** Readable status label: "return_requested" → "return requested". */
export const label = (status) => String(status).replaceAll("_", " ");

let toastRegion = null;

const MAX_TOASTS = 3;

/**
 * A short message in the polite live region at the bottom of the page. A toast
 * with the same key replaces the previous one (e.g. one per order).
 */
export function toast(message, { kind = "info", timeout = 5000, key = null } = {}) {
  if (!toastRegion) {
    toastRegion = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastRegion);
  }
  if (key !== null) {
    for (const old of toastRegion.children) if (old.dataset.key === String(key)) old.remove();
  }
  const item = h("div", { class: `toast toast-${kind}`, dataset: key === null ? null : { key } }, message);
  toastRegion.append(item);
  while (toastRegion.children.length > MAX_TOASTS) toastRegion.firstElementChild.remove();
  setTimeout(() => item.remove(), timeout);
  return item;
}

/** Read a form's named fields into an object (strings, trimmed). */
export function formValues(form) {
  const out = {};
  for (const [key, value] of new FormData(form)) out[key] = String(value).trim();
  return out;
}

/** Show an error message next to a form (role=alert), or clear it with null. */
export function formError(form, message) {
  let box = form.querySelector(".form-error");
  if (!box) {
    box = h("p", { class: "form-error", role: "alert" });
    form.append(box);
  }
  box.textContent = message || "";
  box.hidden = !message;
}

/** Disable a form's controls while a request runs. */
export async function busy(form, work) {
  const controls = [...form.elements].filter((el) => !el.disabled);
  controls.forEach((el) => (el.disabled = true));
  try {
    return await work();
  } finally {
    controls.forEach((el) => (el.disabled = false));
  }
}
