// The live page's "Shop this show": every product the live has pinned (its bag, GET
// /api/lives/{id}/bag), in the order first shown, growing without a reload when a `pinned`
// event brings a new one. While the live runs the pinned product says "Pinned now" (its card
// above has Buy: the deal is there); the others are bought at the list price through the live.
// Once the live has ended they are bought from its replay (source "replay", the list price).
// Collapsed on a phone (a <details>), open on a wide screen.

import { api } from "./api.js";
import { h, money, replace } from "./dom.js";
import { buyAtListPrice, resumeShopBuy, stockText, thumb } from "./shop.js";

const WIDE = "(min-width: 960px)";

export class ShowBag {
  /** root: the (hidden) section; orders: the page's OrderTracker; ready(): a promise of the
   * buyer's orders and profile being loaded (the buy dialog uses both). */
  constructor(root, { liveId, orders, ready = () => Promise.resolve() }) {
    Object.assign(this, { root, liveId, orders, ready });
    this.products = new Map(); // id → product, in the order first shown
    this.rows = new Map(); // id → {li, price, stock, now, buy}
    this.pinnedId = null;
    this.status = null;
    this.buying = null; // {id, card} of the last buy dialog opened here: it follows stock
    this.resuming = resumeShopBuy();
    this.count = h("span", { class: "bag-count" });
    this.list = h("ol", { class: "shop-list", id: "bag-list" });
    const summary = h(
      "summary",
      { class: "bag-summary" },
      h("h2", { class: "bag-title", id: "bag-title" }, "Shop this show"),
      this.count,
    );
    this.details = h("details", { class: "bag-details", open: matchMedia(WIDE).matches }, summary, this.list);
    root.setAttribute("aria-labelledby", "bag-title");
    replace(root, this.details);
  }

  /** Read the bag (the first snapshot, and any later one: pins may have been missed). */
  async load() {
    let products;
    try {
      ({ products } = await api(`/api/lives/${encodeURIComponent(this.liveId)}/bag`));
    } catch {
      return; // the list still grows from pins
    }
    const fresh = new Map(products.map((p) => [p.id, p]));
    for (const [id, p] of this.products) if (!fresh.has(id)) fresh.set(id, p); // pinned meanwhile
    this.products = fresh;
    this.render();
    this.resume();
  }

  /** The card's product (or null): called on every change of the pinned card. */
  follow(product) {
    const id = product ? product.id : null;
    let changed = id !== this.pinnedId;
    this.pinnedId = id;
    if (product && !this.products.has(id)) {
      this.products.set(id, structuredClone(product));
      changed = true;
    } else if (product && this.products.get(id).stock !== product.stock) {
      this.stock({ product_id: id, stock: product.stock });
    }
    if (changed) this.render();
  }

  /** A `stock` frame: {product_id, stock}. */
  stock({ product_id: id, stock }) {
    const product = this.products.get(id);
    if (!product || typeof stock !== "number") return;
    product.stock = stock;
    if (this.buying?.id === id) this.buying.card.stock(stock);
    const row = this.rows.get(id);
    if (row) this.update(product, row);
  }

  /** The live's status: "live" (buy through the live), "ended" (buy from its replay). */
  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.render();
  }

  render() {
    this.root.hidden = this.products.size === 0;
    const n = this.products.size;
    this.count.textContent = `${n} ${n === 1 ? "product" : "products"}`;
    for (const product of this.products.values()) {
      let row = this.rows.get(product.id);
      if (!row) {
        row = this.row(product);
        this.rows.set(product.id, row);
        this.list.append(row.li);
      }
      this.update(product, row);
    }
  }

  row(product) {
    const row = {
      price: h("span", { class: "shop-price" }),
      stock: h("span", { class: "shop-stock" }),
      now: h("span", { class: "badge badge-live shop-now" }, "Pinned now"),
      buy: h(
        "button",
        {
          type: "button",
          class: "btn shop-buy",
          "aria-label": `Buy ${product.title}`,
          on: { click: () => this.buy(product.id) },
        },
        "Buy",
      ),
    };
    row.li = h(
      "li",
      { class: "shop-item", dataset: { productId: product.id } },
      thumb(product),
      h("span", { class: "shop-what" }, h("span", { class: "shop-title" }, product.title), h("span", { class: "shop-meta" }, row.price, row.stock)),
      h("span", { class: "shop-actions" }, row.now, row.buy),
    );
    return row;
  }

  update(product, row) {
    const pinned = this.status !== "ended" && product.id === this.pinnedId;
    const soldOut = product.stock <= 0;
    row.li.classList.toggle("is-now", pinned);
    setText(row.price, money(product.price_cents, product.currency));
    setText(row.stock, stockText(product));
    row.now.hidden = !pinned;
    row.buy.hidden = pinned || this.status === "scheduled";
    row.buy.disabled = soldOut;
    setText(row.buy, soldOut ? "Sold out" : "Buy");
  }

  buy(id) {
    const product = this.products.get(id);
    if (!product) return;
    const card = buyAtListPrice(product, {
      liveId: this.liveId,
      orders: this.orders,
      source: this.status === "ended" ? "replay" : null,
      onOrder: (order) => this.orders.update(order),
    });
    this.buying = card ? { id, card } : null;
  }

  /** After signing in from a Buy here: that product's dialog again, once. */
  async resume() {
    const wanted = this.resuming;
    this.resuming = null;
    if (!wanted) return;
    await this.ready();
    const id = [...this.products.keys()].find((key) => String(key) === wanted);
    const row = this.rows.get(id);
    if (row && !row.buy.hidden && !row.buy.disabled) this.buy(id);
  }
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
