// Studio: the creator's products with Pin / Unpin, the deal form, a new-product form, the
// comment-to-buy keyword pins carry, and each product's waitlist and stock by warehouse
// (its creator only; the editor is studio-inventory.js).

import { api, ApiError, describe } from "./api.js";
import { field } from "./auth.js";
import { busy, clock, formError, formValues, h, money, replace, toast } from "./dom.js";
import { InventoryEditor } from "./studio-inventory.js";

// A claim keyword: 1 to 20 letters of any alphabet (the server's rule, app/fields.py).
const KEYWORD = /^\p{L}{1,20}$/u;
const KEYWORD_RULE = "1 to 20 letters, no spaces, digits or punctuation (such as SOLD)";
// Stock frames come fast during a sale: an open waitlist is read again at most this often.
const WAITLIST_REFRESH_MS = 1000;

export class ProductShelf {
  /**
   * list: the <ul>; keywordInput: the claim keyword's <input> (in its form), sent with every
   * pin; waitlists: show each product's waitlist (GET is for the product's creator only);
   * inventory: each product's stock by warehouse, to restock (its creator's, staff's).
   */
  constructor(list, { liveId, creatorId, keywordInput = null, waitlists = false, inventory = false }) {
    this.list = list;
    this.liveId = liveId;
    this.creatorId = creatorId;
    this.products = [];
    this.pinnedId = null;
    this.canPin = false;
    this.keywordInput = keywordInput;
    this.showWaitlists = waitlists;
    this.waitlists = new Map(); // product id → {open, entries (null until read), error, loading, timer}
    this.inventory = inventory ? new InventoryEditor({ onStock: (d) => this.showStock(d) }) : null;
    keywordInput?.form?.addEventListener("submit", (event) => event.preventDefault());
    keywordInput?.addEventListener("input", () => clearError(keywordInput));
  }

  async load() {
    const { products } = await api(`/api/products?creator_id=${this.creatorId}&limit=200`);
    this.products = products.sort((a, b) => a.id - b.id);
    this.render();
    // Sold-out products are the ones people wait for: their counts show from the start.
    if (this.showWaitlists) for (const p of this.products) if (p.stock <= 0) this.loadWaitlist(p.id);
  }

  setPinned(productId) {
    this.pinnedId = productId;
    this.render();
  }

  setCanPin(canPin) {
    this.canPin = canPin;
    this.render();
  }

  /** A stock frame: the new stock, and an open stock-by-warehouse editor reads its figures. */
  stock(frame) {
    this.showStock(frame);
    this.inventory?.changed(frame.product_id);
  }

  showStock({ product_id, stock }) {
    const product = this.products.find((p) => p.id === product_id);
    if (!product) return;
    product.stock = stock;
    const el = this.list.querySelector(`[data-product-id="${product_id}"] .stock`);
    if (el) el.textContent = `${stock} in stock`;
    // Units back go to the waitlist first; sold out, people start joining.
    const known = this.waitlists.get(product_id);
    if (this.showWaitlists && (known || stock <= 0)) this.soonWaitlist(product_id);
  }

  render() {
    const focused = document.activeElement?.dataset?.focusKey;
    replace(
      this.list,
      this.products.length ? null : h("li", { class: "muted" }, "No products yet."),
      this.products.map((p) => this.row(p)),
    );
    if (focused) this.list.querySelector(`[data-focus-key="${focused}"]`)?.focus();
  }

  row(p) {
    const pinned = p.id === this.pinnedId;
    const disabled = !this.canPin;
    return h(
      "li",
      { class: `product-row${pinned ? " is-pinned" : ""}`, dataset: { productId: p.id } },
      p.image_url ? h("img", { src: p.image_url, alt: "", width: 56, height: 56 }) : h("span"),
      h(
        "div",
        {},
        h("strong", {}, p.title),
        h("div", { class: "muted" }, money(p.price_cents, p.currency), " · ", h("span", { class: "stock" }, `${p.stock} in stock`)),
      ),
      h(
        "div",
        { class: "actions" },
        pinned && h("span", { class: "badge badge-live" }, "Pinned"),
        pinned
          ? h("button", {
              type: "button",
              class: "btn btn-small",
              disabled,
              dataset: { focusKey: `repin-${p.id}` },
              "aria-label": `Pin ${p.title} again (with the claim keyword above)`,
              on: { click: () => this.pin(p) },
            }, "Pin again")
          : h("button", {
              type: "button",
              class: "btn btn-primary btn-small",
              disabled,
              dataset: { focusKey: `pin-${p.id}` },
              "aria-label": `Pin ${p.title}`,
              on: { click: () => this.pin(p) },
            }, "Pin"),
        h("button", {
          type: "button",
          class: "btn btn-small",
          disabled,
          dataset: { focusKey: `deal-${p.id}` },
          "aria-label": `Pin ${p.title} with a deal`,
          on: { click: () => this.openDeal(p) },
        }, "Pin with deal…"),
        this.showWaitlists && this.waitlistToggle(p),
        this.inventory?.toggle(p),
      ),
      this.showWaitlists && this.waitlistBox(p),
      this.inventory?.box(p),
    );
  }

  /**
   * Pin with the claim keyword (from `keyword`, else the shelf's input). Returns null when
   * pinned, else the error said (a bad keyword next to its input, the rest in a toast).
   */
  async pin(product, deal = null, keyword = this.keywordInput) {
    const claim = checkKeyword(keyword);
    if (claim === undefined) return "claim_keyword";
    const body = { product_id: product.id };
    if (deal) body.deal = deal;
    if (claim) body.claim_keyword = claim;
    try {
      await api(`/api/lives/${this.liveId}/pin`, { method: "POST", body });
      return null;
    } catch (error) {
      const about = error instanceof ApiError && error.fields ? error.fields.claim_keyword : null;
      if (about && keyword) {
        showError(keyword, about);
        return "claim_keyword";
      }
      const message = error.code === "invalid_state" ? "Start the live before pinning." : describe(error);
      toast(message, { kind: "warn" });
      return message;
    }
  }

  /** "Waitlist (N)": shows or hides who waits for the product. */
  waitlistToggle(p) {
    const known = this.waitlists.get(p.id);
    return h("button", {
      type: "button",
      class: "btn btn-small waitlist-toggle",
      dataset: { focusKey: `waitlist-${p.id}` },
      "aria-expanded": String(Boolean(known?.open)),
      "aria-controls": `waitlist-${p.id}`,
      on: { click: () => this.toggleWaitlist(p.id) },
    }, waitlistLabel(known));
  }

  waitlistBox(p) {
    const box = h("div", { class: "waitlist-box", id: `waitlist-${p.id}`, "aria-label": `Waitlist of ${p.title}`, role: "region" });
    this.fillWaitlist(box, p);
    return box;
  }

  fillWaitlist(box, p) {
    const known = this.waitlists.get(p.id);
    box.hidden = !known?.open;
    if (box.hidden) return;
    const refresh = h("button", {
      type: "button",
      class: "btn btn-small",
      dataset: { focusKey: `waitlist-refresh-${p.id}` },
      "aria-label": `Refresh the waitlist of ${p.title}`,
      on: { click: () => this.loadWaitlist(p.id) },
    }, "Refresh");
    let body;
    if (known.error) body = h("p", { class: "form-error" }, known.error);
    else if (!known.entries) body = h("p", { class: "muted flush" }, "Loading…");
    else if (!known.entries.length) body = h("p", { class: "muted flush" }, "Nobody is waiting.");
    else {
      body = h(
        "ol",
        { class: "plain-list waitlist-entries" },
        known.entries.map((e) =>
          h(
            "li",
            { dataset: { username: e.user.username } },
            h("span", {}, `#${e.position} `, h("strong", {}, e.user.username), ` · ${e.quantity} ${e.quantity === 1 ? "unit" : "units"}`),
            h("span", { class: "muted small" }, "since ", h("time", { datetime: e.joined_at }, clock(e.joined_at))),
          ),
        ),
      );
    }
    const note = h("p", { class: "muted small flush" }, "Units that come back (a restock, a cancellation) are ordered for them first, in this order.");
    replace(box, body, note, refresh);
  }

  /** Redraw one product's toggle and list (the rest of the shelf stays as it is). */
  showWaitlist(productId) {
    const row = this.list.querySelector(`[data-product-id="${productId}"]`);
    const product = this.products.find((p) => p.id === productId);
    if (!row || !product) return;
    const toggle = row.querySelector(".waitlist-toggle");
    const known = this.waitlists.get(productId);
    toggle.textContent = waitlistLabel(known);
    toggle.setAttribute("aria-expanded", String(Boolean(known?.open)));
    const focused = document.activeElement?.dataset?.focusKey;
    this.fillWaitlist(row.querySelector(".waitlist-box"), product);
    if (focused && !row.contains(document.activeElement)) row.querySelector(`[data-focus-key="${focused}"]`)?.focus();
  }

  toggleWaitlist(productId) {
    const known = this.waitlists.get(productId) || { open: false, entries: null, error: null };
    known.open = !known.open;
    this.waitlists.set(productId, known);
    this.showWaitlist(productId);
    if (known.open) this.loadWaitlist(productId);
  }

  /** GET the waitlist (who waits, first served first). */
  async loadWaitlist(productId) {
    const known = this.waitlists.get(productId) || { open: false, entries: null, error: null };
    this.waitlists.set(productId, known);
    if (known.loading) {
      known.again = true;
      return;
    }
    known.loading = true;
    try {
      const { waitlist } = await api(`/api/products/${productId}/waitlist`);
      Object.assign(known, { entries: waitlist, error: null });
    } catch (error) {
      known.error = describe(error);
    } finally {
      known.loading = false;
    }
    this.showWaitlist(productId);
    if (known.again) {
      known.again = false;
      this.loadWaitlist(productId);
    }
  }

  /** Read the waitlist again soon (once per burst of stock frames). */
  soonWaitlist(productId) {
    const known = this.waitlists.get(productId) || { open: false, entries: null, error: null };
    this.waitlists.set(productId, known);
    if (known.timer) return;
    known.timer = setTimeout(() => {
      known.timer = null;
      this.loadWaitlist(productId);
    }, WAITLIST_REFRESH_MS);
  }

  openDeal(product) {
    const suggested = Math.max(0, Math.round(product.price_cents * 0.8)) / 100;
    const form = h(
      "form",
      { class: "stack" },
      field("deal-price", `Deal price (${product.currency}, list ${money(product.price_cents, product.currency)})`, {
        name: "price", type: "number", min: 0, step: "0.01", value: suggested, required: true,
      }),
      h(
        "div",
        { class: "row" },
        field("deal-quantity", "Quantity at this price", {
          name: "quantity", type: "number", min: 1, step: 1, value: Math.max(1, Math.min(product.stock, 20)), required: true,
        }),
        field("deal-limit", "Per-buyer limit (optional)", { name: "limit", type: "number", min: 1, step: 1, value: 2 }),
      ),
      field("deal-duration", "Duration (minutes)", {
        name: "minutes", type: "number", min: 0.5, max: 1440, step: 0.5, value: 5, required: true,
      }),
      h(
        "div",
        { class: "row" },
        h("button", { type: "submit", class: "btn btn-primary" }, "Pin with deal"),
        h("button", { type: "button", class: "btn", on: { click: () => dialog.close() } }, "Cancel"),
      ),
    );
    const keyword = field("deal-keyword", "Claim keyword (optional)", {
      name: "claim_keyword", maxlength: 20, value: this.keywordInput?.value.trim() || "",
      autocapitalize: "characters", spellcheck: "false", placeholder: "SOLD",
    });
    form.lastElementChild.before(keyword);
    const dialog = h(
      "dialog",
      { class: "dialog", id: "deal-dialog", "aria-labelledby": "deal-title" },
      h("h2", { id: "deal-title" }, `Flash deal: ${product.title}`),
      form,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = formValues(form);
      const deal = {
        price_cents: Math.round(Number(v.price) * 100),
        quantity: Number(v.quantity),
        duration_s: Math.max(1, Math.round(Number(v.minutes) * 60)),
      };
      if (v.limit) deal.per_buyer_limit = Number(v.limit);
      formError(form, null);
      const input = form.elements.claim_keyword;
      const problem = await busy(form, () => this.pin(product, deal, input));
      if (problem === "claim_keyword") {
        input.focus();
        return;
      }
      if (problem) {
        formError(form, problem);
        return;
      }
      if (this.keywordInput) this.keywordInput.value = input.value.trim(); // the shelf's follows
      dialog.close();
    });
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    form.elements.price.focus();
  }

  /** The creator's form to add a product to the shelf. */
  newProductForm() {
    const form = h(
      "form",
      { class: "stack", "aria-labelledby": "new-product-title" },
      h("h3", { id: "new-product-title" }, "Add a product"),
      field("product-title", "Title", { name: "title", required: true, maxlength: 200 }),
      h(
        "div",
        { class: "row" },
        field("product-price", "Price", { name: "price", type: "number", min: 0, step: "0.01", required: true }),
        field("product-stock", "Stock", { name: "stock", type: "number", min: 0, step: 1, required: true }),
      ),
      field("product-image", "Image URL (optional)", { name: "image_url", placeholder: "/static/img/mug.svg or https://…" }),
      h("button", { type: "submit", class: "btn" }, "Add product"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = formValues(form);
      const body = { title: v.title, price_cents: Math.round(Number(v.price) * 100), stock: Number(v.stock) };
      if (v.image_url) body.image_url = v.image_url;
      formError(form, null);
      try {
        const { product } = await busy(form, () => api("/api/products", { method: "POST", body }));
        this.products.push(product);
        this.render();
        form.reset();
        toast(`Added ${product.title}`, { kind: "ok" });
      } catch (error) {
        formError(form, describe(error));
      }
    });
    return form;
  }
}

function waitlistLabel(known) {
  return known?.entries ? `Waitlist (${known.entries.length})` : "Waitlist";
}

/** The keyword to send: null (none), the keyword, or undefined after saying it is not one. */
function checkKeyword(input) {
  if (!input) return null;
  clearError(input);
  const word = input.value.trim();
  if (!word) return null;
  if (KEYWORD.test(word)) return word;
  showError(input, `The claim keyword must be ${KEYWORD_RULE}.`);
  input.focus();
  return undefined;
}

function showError(input, message) {
  clearError(input);
  const text = String(message).replace(/^Value error, /, "");
  const note = h("p", { class: "field-error", id: `${input.id}-error` }, text[0].toUpperCase() + text.slice(1));
  input.after(note);
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", note.id);
}

function clearError(input) {
  document.getElementById(`${input.id}-error`)?.remove();
  input.removeAttribute("aria-invalid");
  input.removeAttribute("aria-describedby");
}
