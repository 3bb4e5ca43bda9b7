// Studio: start a giveaway of one unit of one of the creator's products (its duration, and a
// keyword viewers may type in chat to enter), follow the countdown and the entries (the
// socket's giveaway_entries, at most one a second), then the draw: the winner and their order
// (a few GETs until it is placed), or nobody, and the seed. POST /api/lives/{id}/giveaways;
// the socket's giveaway_started / giveaway_entries / giveaway_ended keep it current.

import { api, describe } from "./api.js";
import { secondsLeft, setText } from "./auction.js";
import { field } from "./auth.js";
import { busy, duration, formError, formValues, h, label, replace, toast } from "./dom.js";
import { drawFacts, entriesText } from "./giveaway.js";
import { fillStockedProducts } from "./studio-auction.js";

const POLL_MS = 2000;
const ORDER_TRIES = 5; // drawn with a winner: a few more GETs for the order's number
// An entry keyword: 1 to 20 letters of any alphabet (the claim keyword's rule).
const KEYWORD = /^\p{L}{1,20}$/u;
const REFUSED = {
  invalid_state: "Go live before starting a giveaway.",
  giveaway_running: "A giveaway is already running on this live.",
  keyword_in_use: "That keyword is the pinned product's claim keyword: choose another one.",
  insufficient_stock: "That product has no unit in stock to give away.",
};

/** The studio's outcome line once drawn: who won and the order, or why there is none. */
export function deskOutcome(g) {
  if (!g.winner) return "No entries — no winner. The unit goes back in stock.";
  const who = `Won by ${g.winner.username}`;
  if (g.unclaimed) return `${who}, but it could not be sent (${label(g.unclaimed)}). The unit goes back in stock.`;
  return `${who} · ${g.order_id ? `Order #${g.order_id}` : "placing the order…"}`;
}

export class GiveawayDesk {
  /** panel: the studio's giveaway section; serverNow(): the server's clock; products(): the shelf's. */
  constructor(panel, { liveId, serverNow, products }) {
    Object.assign(this, { panel, liveId, serverNow, products });
    this.giveaway = null;
    this.canStart = false;
    this.poller = null;
    this.tries = 0;
    const facts = drawFacts("studio-giveaway");
    this.parts = {
      kicker: h("p", { class: "card-kicker" }),
      title: h("h3", { id: "studio-giveaway-title" }),
      timer: h("p", { class: "auction-timer", id: "studio-giveaway-timer", role: "timer", "aria-live": "off" }),
      entries: h("p", { class: "auction-meta", id: "studio-giveaway-entries", "aria-live": "polite" }),
      keyword: h("p", { class: "muted small flush", id: "studio-giveaway-keyword" }),
      outcome: h("p", { class: "auction-outcome", id: "studio-giveaway-outcome", role: "status" }),
      fill: facts.fill,
    };
    const p = this.parts;
    this.status = h("div", { class: "giveaway-status", id: "giveaway-status", hidden: true }, p.kicker, p.title, p.timer, p.entries, p.keyword, p.outcome, facts.list);
    this.none = h("p", { class: "muted", id: "no-giveaway" }, "No giveaway yet.");
    this.form = this.startForm();
    replace(panel.querySelector("#giveaway-desk"), this.status, this.none, this.form);
    setInterval(() => this.giveaway?.status === "open" && this.render(), 250);
  }

  /** Giveaway events from the studio's socket; true when the frame was one. */
  event(frame) {
    const d = frame.data;
    if (frame.type === "giveaway_started") this.show(d.giveaway);
    else if (frame.type === "giveaway_entries") {
      if (this.giveaway?.id === d.giveaway_id) this.show({ ...this.giveaway, entries: d.entries });
    } else if (frame.type === "giveaway_ended") {
      if (this.giveaway?.id !== d.giveaway_id) return true;
      const { winner, seed, entries } = d;
      this.show({ ...this.giveaway, status: "drawn", winner, seed, entries });
      this.poll(); // the order's number, and drawn_at
    } else return false;
    return true;
  }

  /** GET the live's giveaways: the newest, open or drawn. */
  async load() {
    try {
      const [newest] = (await api(`/api/lives/${this.liveId}/giveaways`)).giveaways;
      if (newest) this.show(newest);
    } catch {
      /* the events keep the desk right; the next snapshot asks again */
    }
  }

  /** A whole giveaway object, unless older than the one shown. */
  show(giveaway) {
    const now = this.giveaway;
    const same = now?.id === giveaway.id;
    if (now && (giveaway.id < now.id || (same && now.status === "drawn" && giveaway.status === "open"))) return;
    if (!same) this.tries = 0;
    const entries = same ? Math.max(now.entries, giveaway.entries) : giveaway.entries;
    this.giveaway = same ? { ...now, ...giveaway, entries, order_id: giveaway.order_id ?? now.order_id } : { ...giveaway };
    this.refresh();
    this.schedule();
  }

  /** Drawn with a winner: a GET every 2 s until the order is known (a few times at most). */
  schedule() {
    clearTimeout(this.poller);
    const g = this.giveaway;
    const waitingOrder = g.status === "drawn" && g.winner && g.order_id == null && !g.unclaimed && this.tries < ORDER_TRIES;
    if (waitingOrder) this.poller = setTimeout(() => this.poll(), POLL_MS);
  }

  async poll() {
    const g = this.giveaway;
    if (g.status === "drawn") this.tries += 1;
    try {
      this.show((await api(`/api/giveaways/${g.id}`)).giveaway);
    } catch {
      if (this.giveaway === g) this.schedule(); // try again
    }
  }

  /** Giveaways start only while the live is live. */
  setCanStart(canStart) {
    this.canStart = canStart;
    this.refresh();
  }

  refresh() {
    const open = this.giveaway?.status === "open";
    this.status.hidden = !this.giveaway;
    this.none.hidden = Boolean(this.giveaway);
    this.form.hidden = open || !this.canStart;
    if (!this.form.hidden && !this.form.contains(document.activeElement)) this.fillProducts();
    if (this.giveaway) this.render();
  }

  render() {
    const g = this.giveaway;
    const { kicker, title, timer, entries, keyword, outcome, fill } = this.parts;
    const drawn = g.status === "drawn";
    const left = secondsLeft(g.ends_at, this.serverNow());
    this.status.classList.toggle("is-ended", drawn);
    setText(kicker, drawn ? "Last giveaway" : "Giveaway running");
    setText(title, g.product?.title ?? `Product #${g.product_id}`);
    timer.hidden = drawn;
    setText(timer, left > 0 ? `Draw in ${duration(left)}` : "Entries closed. Drawing the winner…");
    setText(entries, entriesText(g.entries));
    setText(keyword, g.keyword ? `Keyword: ${g.keyword} (typed in chat, it enters)` : "No keyword: viewers enter with the Enter button.");
    keyword.hidden = drawn;
    setText(outcome, drawn ? deskOutcome(g) : "");
    outcome.classList.toggle("is-unsold", drawn && (!g.winner || Boolean(g.unclaimed)));
    fill(g);
  }

  fillProducts() {
    fillStockedProducts(this.form, this.products());
  }

  startForm() {
    const form = h(
      "form",
      { class: "stack giveaway-start", id: "giveaway-form", "aria-labelledby": "giveaway-form-title", autocomplete: "off" },
      h("h3", { id: "giveaway-form-title" }, "Start a giveaway"),
      h("div", { class: "field" }, h("label", { for: "giveaway-product" }, "Prize"), h("select", { id: "giveaway-product", name: "product", required: true })),
      h(
        "div",
        { class: "row" },
        field("giveaway-duration", "Duration (seconds)", { name: "duration", type: "number", min: 10, max: 3600, step: 1, value: 60, required: true }),
        field("giveaway-keyword", "Entry keyword (optional)", { name: "keyword", maxlength: 20, placeholder: "WIN", spellcheck: "false", autocapitalize: "characters" }),
      ),
      h(
        "p",
        { class: "muted small flush" },
        "One unit is held from stock. Viewers with a saved address and card enter for free, with the Enter button or by typing the keyword in chat; one of them is drawn at random when the time is up.",
      ),
      h("div", { class: "row" }, h("button", { type: "submit", class: "btn btn-primary" }, "Start giveaway")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.start(form);
    });
    return form;
  }

  async start(form) {
    const v = formValues(form);
    formError(form, null);
    if (v.keyword && !KEYWORD.test(v.keyword)) {
      formError(form, "The keyword must be 1 to 20 letters, no spaces, digits or punctuation (such as WIN).");
      form.elements.keyword.focus();
      return;
    }
    const body = { product_id: Number(v.product), duration_s: Number(v.duration) };
    if (v.keyword) body.keyword = v.keyword;
    try {
      const { giveaway } = await busy(form, () => api(`/api/lives/${this.liveId}/giveaways`, { method: "POST", body }));
      this.show(giveaway);
      this.panel.querySelector("#giveaway-panel-title").focus(); // the form it was in is gone
      toast("The giveaway is on.", { kind: "ok" });
    } catch (error) {
      formError(form, REFUSED[error.code] || describe(error));
    }
  }
}
