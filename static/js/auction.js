// The auction card, on the viewer page and in the studio: the product, the current price,
// the leader, the number of bids and a countdown on the server's clock, then the outcome.
// It is fed by the auction objects of the REST API (GET on join and resume, POST answers)
// and by the socket's frames (auction_started, bid, auction_ended); a view never goes
// back: an answer with fewer bids than shown, or a running view of an ended auction, is
// older than what is on screen and is ignored. The page adds its controls in `slot`.

import { api } from "./api.js";
import { duration, h, money, replace } from "./dom.js";

const TICK_MS = 250;

/** Whole seconds left until `endsAt` (ISO) on the server's clock `now` (ms); 0 when past. */
export function secondsLeft(endsAt, now) {
  return Math.max(0, Math.ceil((Date.parse(endsAt) - now) / 1000));
}

/** "Ends in 0:42" or, at the end, "Closing…" while the server settles it. */
export function timerText(auction, now) {
  if (auction.status !== "running") return "Ended";
  const left = secondsLeft(auction.ends_at, now);
  if (left <= 0) return "Bidding closed. Settling…";
  return `Ends in ${duration(left)}${auction.extended ? " (extended)" : ""}`;
}

export class AuctionCard {
  /**
   * root: the container (hidden while there is no auction to show); serverNow(): the server's
   * clock in ms; me: the signed-in user or null; productFor(id): the product if the page
   * has it (else it is read from the API); outcome(auction, me): the banner text once it ended.
   */
  constructor(root, { serverNow = () => Date.now(), me = null, productFor = () => null, outcome }) {
    Object.assign(this, { root, serverNow, me, productFor, outcome });
    this.auction = null;
    this.product = null;
    this.parts = null;
    this.watchers = new Set();
    this.products = new Map();
    setInterval(() => this.tick(), TICK_MS);
  }

  /** Call fn(auction) after every change (and once a second while it runs); returns an unwatch. */
  watch(fn) {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /** Running, with time left on the server's clock: bids can be taken. */
  get open() {
    const a = this.auction;
    return Boolean(a) && a.status === "running" && secondsLeft(a.ends_at, this.serverNow()) > 0;
  }

  /** A whole auction object (REST answer or `auction_started`), if newer than what is shown. */
  show(auction) {
    const now = this.auction;
    if (now && auction.id < now.id) return;
    if (now && auction.id === now.id) {
      if (now.status !== "running" && auction.status === "running") return;
      if (auction.bids < now.bids) return;
      const extended = now.extended || Date.parse(auction.ends_at) > Date.parse(now.ends_at);
      this.auction = { ...now, ...auction, extended };
      this.refresh();
      return;
    }
    this.auction = { ...auction, extended: false, passed: auction.passed || [] };
    this.build();
  }

  /** A `bid` frame: {auction_id, price_cents, next_min_cents, leader, bids, ends_at}. */
  bid(data) {
    const a = this.auction;
    if (!a || data.auction_id !== a.id || a.status !== "running" || data.bids < a.bids) return;
    const extended = a.extended || Date.parse(data.ends_at) > Date.parse(a.ends_at);
    const { price_cents, next_min_cents, leader, bids, ends_at } = data;
    Object.assign(a, { price_cents, next_min_cents, leader, bids, ends_at, extended });
    this.refresh();
  }

  /** An `auction_ended` frame (with the winner's order id: no request per viewer at the end). */
  ended(data) {
    const a = this.auction;
    if (!a || data.auction_id !== a.id) return;
    Object.assign(a, { status: data.status, winner: data.winner, price_cents: data.price_cents });
    a.passed = data.passed || [];
    if ("order_id" in data) a.order_id = data.order_id;
    this.refresh();
    if (data.status === "sold" && a.order_id == null) this.reload(a.id);
  }

  async reload(auctionId) {
    try {
      const { auction } = await api(`/api/auctions/${auctionId}`);
      this.show(auction);
    } catch {
      /* the banner says who won; the order id is in the buyer's orders */
    }
  }

  /** GET the live's auctions: show the running one, or the outcome of the one on screen. */
  async load(liveId) {
    let auctions;
    try {
      ({ auctions } = await api(`/api/lives/${encodeURIComponent(liveId)}/auctions`));
    } catch {
      return; // the frames keep the card right; the next join tries again
    }
    const newest = auctions[0];
    if (!newest) return;
    const shown = this.auction && auctions.find((a) => a.id === this.auction.id);
    if (shown && shown.id !== newest.id) this.show(shown);
    if (newest.status === "running" || newest.id === this.auction?.id) this.show(newest);
  }

  build() {
    const a = this.auction;
    const product = this.productFor(a.product_id) || this.products.get(a.product_id) || null;
    if (!product) this.fetchProduct(a.product_id);
    const parts = {
      kicker: h("p", { class: "card-kicker" }),
      price: h("span", { class: "price-now", id: "auction-price" }),
      meta: h("p", { class: "auction-meta", id: "auction-meta" }),
      timer: h("p", { class: "auction-timer", id: "auction-timer", role: "timer", "aria-live": "off" }),
      outcome: h("p", { class: "auction-outcome", id: "auction-outcome", role: "status" }),
      slot: h("div", { class: "auction-slot" }),
      priceLabel: h("span", { class: "muted" }),
      rules: h("p", { class: "muted small flush" }),
    };
    const title = product ? product.title : "Auction";
    parts.rules.textContent = a.sudden_death
      ? "Sudden death: the clock is never extended."
      : `A bid in the last ${a.extend_s} s puts the clock back to ${a.extend_s} s.`;
    replace(
      this.root,
      h(
        "article",
        { class: "card auction-card", "aria-labelledby": "auction-title" },
        product?.image_url
          ? h("img", { class: "card-img", src: product.image_url, alt: "", width: 96, height: 96 })
          : h("div", { class: "card-img card-img-empty", "aria-hidden": "true" }),
        h(
          "div",
          { class: "card-body" },
          parts.kicker,
          h("h2", { class: "card-title", id: "auction-title" }, title),
          h("p", { class: "card-price", "aria-live": "polite" }, parts.price, " ", parts.priceLabel),
          parts.meta,
          parts.timer,
          parts.rules,
        ),
        h("div", { class: "auction-foot" }, parts.slot, parts.outcome),
      ),
    );
    this.root.hidden = false;
    this.parts = parts;
    this.refresh();
  }

  async fetchProduct(productId) {
    try {
      const { product } = await api(`/api/products/${productId}`);
      this.products.set(productId, product);
      if (this.auction?.product_id === productId) this.build();
    } catch {
      /* the card says "Auction" instead of the title */
    }
  }

  refresh() {
    if (!this.parts) return;
    const a = this.auction;
    const { kicker, price, priceLabel, meta, timer, rules, outcome } = this.parts;
    const open = this.open;
    const ended = a.status !== "running";
    timer.hidden = ended;
    rules.hidden = ended;
    setText(priceLabel, ended ? (a.status === "sold" ? "final price" : "last bid") : "current bid");
    this.root.classList.toggle("is-open", open);
    this.root.classList.toggle("is-ended", a.status !== "running");
    setText(kicker, a.status !== "running" ? "Auction ended" : open ? "Live auction" : "Auction closing");
    setText(price, money(a.price_cents, a.currency || "USD"));
    setText(meta, this.metaLine(a));
    setText(timer, timerText(a, this.serverNow()));
    setText(outcome, a.status === "running" ? "" : this.outcome(a, this.me));
    outcome.classList.toggle("is-unsold", a.status === "unsold");
    for (const fn of this.watchers) fn(a);
  }

  metaLine(a) {
    const bids = `${a.bids} ${a.bids === 1 ? "bid" : "bids"}`;
    if (a.status === "sold") {
      const won = this.me && a.winner?.id === this.me.id;
      return `${won ? "You won" : `Won by ${a.winner?.username ?? "a bidder"}`} · ${bids}`;
    }
    if (a.status === "unsold") return a.bids ? `Nobody could pay · ${bids}` : "No bids";
    if (!a.leader) return `No bids yet · starts at ${money(a.start_cents, a.currency || "USD")}`;
    const mine = this.me && a.leader.id === this.me.id;
    return `${mine ? "You lead" : `Leader: ${a.leader.username}`} · ${bids}`;
  }

  tick() {
    if (this.auction?.status === "running") this.refresh();
  }

  /** Forget the auction (the card is hidden). */
  clear() {
    this.auction = null;
    this.parts = null;
    replace(this.root);
    this.root.hidden = true;
    for (const fn of this.watchers) fn(null);
  }
}

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text; // no repeated announcement each tick
}
