// The pinned product card: image, title, price, deal price with a countdown,
// "only N left", sold out, and the pin's comment-to-buy keyword ("Type SOLD in chat
// to buy"). Built once per pin, then updated in place (so a focused Buy button keeps
// its focus while stock frames arrive). The page may add controls in `parts.slot`.

import { duration, h, money, replace } from "./dom.js";

const FEW_LEFT = 10;

export class ProductCard {
  /** root: the container; serverNow(): the server's clock in ms; onBuy(card) on Buy. */
  constructor(root, { serverNow = () => Date.now(), onBuy = null, showBuy = true } = {}) {
    this.root = root;
    this.serverNow = serverNow;
    this.onBuy = onBuy;
    this.showBuy = showBuy;
    this.pinned = null;
    this.parts = null;
    this.dealSince = null; // server ms of the `pinned` event, when it came live (not in a snapshot)
    this.watchers = new Set();
    setInterval(() => this.tick(), 1000);
  }

  /** Replace the card with a `pinned` event's data (or null: nothing pinned); `since`: the
   * event's ts when it arrived live. */
  set(pinned, { since = null } = {}) {
    const before = this.pinned;
    const sameDeal = before?.deal && pinned?.deal && before.deal.ends_at === pinned.deal.ends_at;
    this.dealSince = pinned?.deal ? (since ?? (sameDeal ? this.dealSince : null)) : null;
    this.pinned = pinned ? structuredClone(pinned) : null;
    this.build();
  }

  /** Call fn() after every change of the card (pin, stock, deal, countdown); returns an unwatch. */
  watch(fn) {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  get product() {
    return this.pinned?.product || null;
  }

  /** A `stock` frame: {product_id, stock, sold, deal_remaining}. */
  stock(data) {
    if (!this.pinned || data.product_id !== this.pinned.product.id) return;
    this.pinned.product.stock = data.stock;
    if (this.pinned.deal && typeof data.deal_remaining === "number") {
      this.pinned.deal.remaining = data.deal_remaining;
    }
    this.refresh();
  }

  /** A `deal_ended` frame. */
  dealEnded(data) {
    if (!this.pinned || data.product_id !== this.pinned.product.id || !this.pinned.deal) return;
    this.pinned.deal = null;
    this.pinned.dealEnded = data.reason;
    this.refresh();
  }

  /** The deal if it is running now (time left and units left), else null. */
  runningDeal() {
    const deal = this.pinned?.deal;
    if (!deal || deal.remaining <= 0) return null;
    return Date.parse(deal.ends_at) > this.serverNow() ? deal : null;
  }

  build() {
    if (!this.pinned) {
      this.parts = null;
      replace(this.root);
      this.root.hidden = true;
      this.notify();
      return;
    }
    const p = this.pinned.product;
    const parts = {
      kicker: h("p", { class: "card-kicker" }),
      price: h("span", { class: "price-now" }),
      was: h("s", { class: "price-was" }),
      deal: h("p", { class: "card-deal" }),
      stock: h("p", { class: "card-stock" }),
      claim: null,
      claimAction: h("span"),
      claimMore: h("span", { class: "claim-more" }),
      buy: null,
      slot: h("div", { class: "card-slot", hidden: true }), // shown by the controls put in it
    };
    const keyword = this.pinned.claim_keyword;
    if (keyword) {
      parts.claim = h(
        "p",
        { class: "card-claim" },
        "Type ",
        h("strong", { class: "claim-word" }, keyword),
        " in chat ",
        parts.claimAction,
        parts.claimMore,
      );
    }
    if (this.showBuy) {
      parts.buy = h(
        "button",
        { type: "button", class: "btn btn-primary btn-buy", on: { click: () => this.onBuy?.(this) } },
        "Buy",
      );
    }
    const image = p.image_url
      ? h("img", { class: "card-img", src: p.image_url, alt: p.title, width: 96, height: 96 })
      : h("div", { class: "card-img card-img-empty", "aria-hidden": "true" });
    replace(
      this.root,
      h(
        "article",
        { class: "card", "aria-label": `Pinned product: ${p.title}` },
        image,
        h(
          "div",
          { class: "card-body" },
          parts.kicker,
          h("h2", { class: "card-title" }, p.title),
          h("p", { class: "card-price" }, parts.price, " ", parts.was),
          parts.deal,
          parts.stock,
          parts.claim,
          parts.buy,
        ),
        parts.slot,
      ),
    );
    this.root.hidden = false;
    this.parts = parts;
    this.refresh();
  }

  refresh() {
    if (!this.parts) return;
    const { product } = this.pinned;
    const deal = this.runningDeal();
    const soldOut = product.stock <= 0;
    const { kicker, price, was, deal: dealLine, stock, buy, claimAction, claimMore } = this.parts;
    this.root.classList.toggle("is-deal", Boolean(deal));
    this.root.classList.toggle("is-sold-out", soldOut);
    kicker.textContent = soldOut ? "Sold out" : deal ? "Flash deal" : "Pinned now";
    price.textContent = money(deal ? deal.price_cents : product.price_cents, product.currency);
    was.textContent = deal ? money(product.price_cents, product.currency) : "";
    was.hidden = !deal;
    if (deal) {
      const left = (Date.parse(deal.ends_at) - this.serverNow()) / 1000;
      const limit = deal.per_buyer_limit ? ` · max ${deal.per_buyer_limit} per buyer` : "";
      dealLine.textContent = `Deal ends in ${duration(left)} · ${deal.remaining} left at this price${limit}`;
    }
    dealLine.hidden = !deal;
    stock.textContent = soldOut ? "Sold out" : `Only ${product.stock} left`;
    stock.hidden = !soldOut && product.stock > FEW_LEFT;
    // Sold out, a claim joins the waitlist; "SOLD 2" is no use when one unit is the most.
    setText(claimAction, soldOut ? "to join the waitlist" : "to buy");
    const more = !soldOut && product.stock >= 2 && deal?.per_buyer_limit !== 1;
    if (more !== (claimMore.childNodes.length > 0)) {
      const keyword = this.pinned.claim_keyword;
      replace(claimMore, more && [" · ", h("strong", { class: "claim-word" }, `${keyword} 2`), " for two"]);
    }
    if (buy) {
      buy.disabled = soldOut;
      buy.textContent = soldOut ? "Sold out" : "Buy";
    }
    this.notify();
  }

  notify() {
    for (const fn of this.watchers) fn();
  }

  tick() {
    if (this.pinned?.deal) this.refresh();
  }
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text; // the card is a live region: no repeats
}
