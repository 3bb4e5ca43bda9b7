// The replay's card: the product pinned at the playhead, as the show had it, at today's list
// price (a flash deal of the show is said as history, never offered), with Buy; between pins a
// short note. Rebuilt only when the pin under the playhead changes (the region is aria-live).

import { duration, h, money, replace } from "./dom.js";
import { stockText } from "./shop.js";

/** The pin entry covering `ms` (offset_ms ≤ ms < end_offset_ms, or still showing), or null. */
export function pinAt(pins, ms) {
  for (const pin of pins) {
    if (pin.offset_ms <= ms && (pin.end_offset_ms === null || ms < pin.end_offset_ms)) return pin;
  }
  return null;
}

/** Whether a timeline entry (pin, auction or giveaway) covers `ms`. */
export const covers = (entry, ms) =>
  entry.offset_ms <= ms && (entry.end_offset_ms === null || ms < entry.end_offset_ms);

/** "at 12:34" for an offset in ms. */
export const showTime = (ms) => `at ${duration(ms / 1000)}`;

export class ReplayCard {
  /** root: the aria-live section; onBuy(product) on Buy. */
  constructor(root, { onBuy }) {
    this.root = root;
    this.onBuy = onBuy;
    this.entry = undefined; // undefined: nothing drawn yet; null: between pins
    this.product = null;
  }

  /** Show `entry` (a pin of the timeline, or null) with `product`, its current listing
   * (null when it is no longer sold). Nothing happens when it is already shown. */
  show(entry, product) {
    if (entry === this.entry) return;
    this.entry = entry;
    this.product = product;
    this.parts = null;
    if (!entry) {
      replace(this.root, h("p", { class: "replay-empty" }, "Nothing was pinned at this point of the show."));
      return;
    }
    const shown = entry.product;
    const p = product || shown;
    const image = p.image_url
      ? h("img", { class: "card-img", src: p.image_url, alt: p.title, width: 96, height: 96 })
      : h("div", { class: "card-img card-img-empty", "aria-hidden": "true" });
    const deal = entry.deal
      ? h("p", { class: "card-history" }, `Was ${money(entry.deal.price_cents, shown.currency)} during the show`)
      : null;
    let action = h("p", { class: "card-stock" }, "No longer for sale");
    if (product) {
      this.parts = {
        stock: h("p", { class: "card-stock" }),
        buy: h("button", { type: "button", class: "btn btn-primary btn-buy", on: { click: () => this.onBuy(this.product) } }),
      };
      action = [this.parts.stock, this.parts.buy];
    }
    replace(
      this.root,
      h(
        "article",
        { class: "card", "aria-label": `In the show ${showTime(entry.offset_ms)}: ${p.title}` },
        image,
        h(
          "div",
          { class: "card-body" },
          h("p", { class: "card-kicker" }, `Shown ${showTime(entry.offset_ms)}`),
          h("h2", { class: "card-title" }, p.title),
          product ? h("p", { class: "card-price" }, h("span", { class: "price-now" }, money(product.price_cents, product.currency))) : null,
          deal,
          action,
        ),
      ),
    );
    this.restock(product);
  }

  /** The shown product's stock as now known (after an order): updated in place, so a focused
   * Buy keeps its focus. */
  restock(product) {
    if (!this.parts || this.product?.id !== product?.id) return;
    this.product = product;
    const soldOut = product.stock <= 0;
    const { stock, buy } = this.parts;
    stock.textContent = stockText(product);
    stock.hidden = soldOut || !stock.textContent; // sold out: the button says it
    buy.disabled = soldOut;
    buy.textContent = soldOut ? "Sold out" : "Buy";
  }
}
