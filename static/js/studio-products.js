// Studio: the creator's products with Pin / Unpin, the deal form, a new-product form.

import { api, describe } from "./api.js";
import { field } from "./auth.js";
import { busy, formError, formValues, h, money, replace, toast } from "./dom.js";

export class ProductShelf {
  constructor(list, { liveId, creatorId }) {
    this.list = list;
    this.liveId = liveId;
    this.creatorId = creatorId;
    this.products = [];
    this.pinnedId = null;
    this.canPin = false;
  }

  async load() {
    const { products } = await api(`/api/products?creator_id=${this.creatorId}&limit=200`);
    this.products = products.sort((a, b) => a.id - b.id);
    this.render();
  }

  setPinned(productId) {
    this.pinnedId = productId;
    this.render();
  }

  setCanPin(canPin) {
    this.canPin = canPin;
    this.render();
  }

  stock({ product_id, stock }) {
    const product = this.products.find((p) => p.id === product_id);
    if (!product) return;
    product.stock = stock;
    const el = this.list.querySelector(`[data-product-id="${product_id}"] .stock`);
    if (el) el.textContent = `${stock} in stock`;
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
        pinned
          ? h("span", { class: "badge badge-live" }, "Pinned")
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
      ),
    );
  }

  async pin(product, deal = null) {
    try {
      await api(`/api/lives/${this.liveId}/pin`, {
        method: "POST",
        body: deal ? { product_id: product.id, deal } : { product_id: product.id },
      });
      return null;
    } catch (error) {
      const message = error.code === "invalid_state" ? "Start the live before pinning." : describe(error);
      toast(message, { kind: "warn" });
      return message;
    }
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
      const problem = await busy(form, () => this.pin(product, deal));
      if (problem) formError(form, problem);
      else dialog.close();
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
