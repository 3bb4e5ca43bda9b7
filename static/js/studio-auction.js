// Studio: start an auction on one of the creator's products (start price, duration, soft-close
// extension, sudden death), watch the bids come in on the auction card (price, leader, count,
// countdown, the latest bids) and see the outcome: the winner, the final price and the order,
// or unsold. POST /api/lives/{id}/auctions; the rest arrives as frames (see AuctionCard).

import { api, describe } from "./api.js";
import { AuctionCard } from "./auction.js";
import { field } from "./auth.js";
import { busy, formError, formValues, h, money, replace, toast } from "./dom.js";

const RECENT = 5;
const REFUSED = {
  invalid_state: "Go live before starting an auction.",
  auction_running: "An auction is already running on this live.",
  insufficient_stock: "That product has no unit in stock to auction.",
};

/** The studio's outcome line: who won, at what price, the order; or unsold. */
export function studioOutcome(a) {
  const price = money(a.price_cents, a.currency || "USD");
  const passed = (a.passed || []).map((p) => `${p.username} could not pay ${money(p.price_cents, a.currency || "USD")}`);
  const past = passed.length ? ` (${passed.join("; ")})` : "";
  if (a.status === "unsold") {
    const why = a.bids ? "nobody could pay" : "no bids";
    return `Unsold: ${why}. The unit is back in stock.${past}`;
  }
  const order = a.order_id ? `Order #${a.order_id}` : "placing the order…";
  return `Sold to ${a.winner?.username ?? "a bidder"} for ${price} · ${order}${past}`;
}

/** A start form's product choices: the creator's products with a unit in stock (the
 * auction and giveaway forms; the choice made is kept while it is still offered). */
export function fillStockedProducts(form, products) {
  const select = form.elements.product;
  const chosen = select.value;
  const items = products.filter((p) => p.stock > 0);
  replace(select, items.map((p) => h("option", { value: p.id }, `${p.title} (${p.stock} in stock)`)));
  if (items.some((p) => String(p.id) === chosen)) select.value = chosen;
  form.querySelector("button[type=submit]").disabled = items.length === 0;
}

export class AuctionDesk {
  /** panel: the studio's auction section; products(): the shelf's products. */
  constructor(panel, { liveId, serverNow, products }) {
    Object.assign(this, { panel, liveId, products });
    this.canStart = false;
    this.card = new AuctionCard(panel.querySelector("#auction"), { serverNow, outcome: studioOutcome });
    this.recent = h("ol", { class: "plain-list auction-bids", id: "auction-bids", "aria-labelledby": "auction-bids-title" });
    this.latest = h("div", { class: "stack auction-latest" }, h("h3", { id: "auction-bids-title" }, "Latest bids"), this.recent);
    this.form = this.startForm();
    this.none = h("p", { class: "muted", id: "no-auction" }, "No auction is running.");
    replace(panel.querySelector("#auction-desk"), this.latest, this.none, this.form);
    this.card.watch(() => this.refresh());
  }

  /** Auction frames from the studio's socket; true when the frame was one. */
  event(frame) {
    const d = frame.data;
    if (frame.type === "auction_started") {
      replace(this.recent);
      this.card.show(d.auction);
    } else if (frame.type === "bid") {
      this.card.bid(d);
      this.noteBid(d);
    } else if (frame.type === "auction_ended") this.card.ended(d);
    else return false;
    return true;
  }

  noteBid(d) {
    if (d.auction_id !== this.card.auction?.id) return;
    const price = money(d.price_cents, this.card.auction.currency || "USD");
    const bids = `${d.bids} ${d.bids === 1 ? "bid" : "bids"}`;
    this.recent.prepend(h("li", {}, h("span", {}, `${price} · ${d.leader.username} leads`), h("span", { class: "muted" }, bids)));
    while (this.recent.children.length > RECENT) this.recent.lastElementChild.remove();
  }

  load() {
    return this.card.load(this.liveId);
  }

  /** Auctions start only while the live is live. */
  setCanStart(canStart) {
    this.canStart = canStart;
    this.refresh();
  }

  refresh() {
    const a = this.card.auction;
    const running = a?.status === "running";
    this.none.hidden = Boolean(a);
    this.latest.hidden = !a || this.recent.children.length === 0;
    this.form.hidden = running || !this.canStart;
    if (!this.form.hidden && !this.form.contains(document.activeElement)) this.fillProducts();
  }

  fillProducts() {
    fillStockedProducts(this.form, this.products());
  }

  startForm() {
    const form = h(
      "form",
      { class: "stack auction-start", id: "auction-form", "aria-labelledby": "auction-form-title" },
      h("h3", { id: "auction-form-title" }, "Start an auction"),
      h("div", { class: "field" }, h("label", { for: "auction-product" }, "Product"), h("select", { id: "auction-product", name: "product", required: true })),
      h(
        "div",
        { class: "row" },
        field("auction-start-price", "Start price ($)", { name: "start", type: "number", min: 0.01, step: "0.01", value: "1.00", required: true }),
        field("auction-duration", "Duration (seconds)", { name: "duration", type: "number", min: 5, max: 3600, step: 1, value: 60, required: true }),
        field("auction-extend", "Extend (seconds)", { name: "extend", type: "number", min: 0, max: 600, step: 1, value: 10, required: true }),
      ),
      h("label", { class: "radio", for: "auction-sudden" }, h("input", { type: "checkbox", id: "auction-sudden", name: "sudden" }), " Sudden death (never extended)"),
      h("p", { class: "muted small flush" }, "One unit is held from stock while it runs. A bid in the last seconds extends the clock unless it is sudden death."),
      h("div", { class: "row" }, h("button", { type: "submit", class: "btn btn-primary" }, "Start auction")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.start(form);
    });
    return form;
  }

  async start(form) {
    const v = formValues(form);
    const body = {
      product_id: Number(v.product),
      start_cents: Math.round(Number(v.start) * 100),
      duration_s: Number(v.duration),
      extend_s: Number(v.extend),
      sudden_death: form.elements.sudden.checked,
    };
    formError(form, null);
    try {
      const { auction } = await busy(form, () => api(`/api/lives/${this.liveId}/auctions`, { method: "POST", body }));
      this.card.show(auction);
      this.panel.querySelector("#auction-panel-title").focus(); // the form it was in is gone
      toast("The auction is on.", { kind: "ok" });
    } catch (error) {
      formError(form, REFUSED[error.code] || describe(error));
    }
  }
}
