// Bidding on the viewer page: the one-tap "Bid $N" button (the auction's next_min_cents), a
// form for an amount of your own and a secret maximum, the private "outbid" alert and the
// winner banner. Bids go over REST (POST /api/auctions/{id}/bids): the answer belongs to this
// bid, so its refusal is said next to the button (bid_too_low moves the button to the new
// minimum, checkout_profile_required opens the checkout profile, self_bidding hides the
// controls). Everyone's bids, this one's included, also arrive as `bid` frames.

import { api, ApiError, describe } from "./api.js";
import { field } from "./auth.js";
import { setText } from "./auction.js";
import { formValues, h, money, replace } from "./dom.js";

/** The banner once the auction ended, as this viewer sees it. */
export function viewerOutcome(a, me) {
  if (a.status === "unsold") return "Unsold";
  if (me && a.winner?.id === me.id) {
    return a.order_id ? `You won! Order #${a.order_id}` : "You won! Placing your order…";
  }
  return `Sold to ${a.winner?.username ?? "a bidder"} for ${money(a.price_cents, a.currency || "USD")}`;
}

const cents = (dollars) => Math.round(Number(dollars) * 100);
const dollars = (amount) => (amount / 100).toFixed(2);

const REFUSED = {
  auction_closed: "Bidding has closed.",
  rate_limited: "Too many bids at once. Wait a moment and try again.",
  checkout_profile_required: "Save a shipping address and a card to bid: the winner's order uses them.",
};

export class BidControls {
  /**
   * card: the page's AuctionCard; me: the signed-in user or null; watchOnly(): true for the
   * live's host and moderators (no bid controls); onSignIn(reason); onProfile() opens the
   * checkout profile.
   */
  constructor(card, { me, watchOnly, onSignIn, onProfile }) {
    Object.assign(this, { card, me, watchOnly, onSignIn, onProfile });
    this.slot = null;
    this.parts = null;
    this.sending = false;
    this.refusedSelf = false;
    card.watch(() => this.refresh());
  }

  /** Build the controls into the card's slot when the card was (re)built. */
  attach() {
    const slot = this.card.parts?.slot;
    if (!slot || slot === this.slot) return;
    this.slot = slot;
    const alert = h("p", { class: "auction-alert", id: "auction-alert", role: "alert" });
    const note = h("p", { class: "auction-note", id: "bid-note", role: "status" });
    if (this.watchOnly() || this.refusedSelf) {
      this.parts = { alert, note, quick: null, more: null };
      replace(slot, h("p", { class: "muted flush" }, "Hosts and moderators of this live cannot bid."), alert);
      return;
    }
    const quick = h("button", { type: "button", class: "btn btn-primary btn-bid", id: "bid-now", on: { click: () => this.tap() } });
    const more = this.me ? this.moreForm() : null;
    this.parts = { alert, note, quick, more };
    replace(slot, quick, note, alert, more);
  }

  moreForm() {
    const form = h(
      "form",
      { class: "stack bid-form", id: "bid-form", novalidate: true },
      h(
        "div",
        { class: "row" },
        field("bid-amount", "Your bid ($)", { name: "amount", type: "number", step: "0.01", min: 0.01, inputmode: "decimal", required: true }),
        field("bid-max", "Secret maximum ($, optional)", { name: "max", type: "number", step: "0.01", min: 0.01, inputmode: "decimal" }),
      ),
      h("p", { class: "muted small flush" }, "With a maximum we bid for you, one step at a time, up to it. Nobody sees it."),
      h("div", { class: "row" }, h("button", { type: "submit", class: "btn" }, "Place bid")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.custom(form);
    });
    return h("details", { class: "bid-more" }, h("summary", {}, "Your own amount or a secret maximum"), form);
  }

  refresh() {
    const a = this.card.auction;
    if (!a) return;
    this.attach();
    const { quick, more, note } = this.parts;
    const running = a.status === "running";
    if (!running) setText(note, "");
    if (!quick) return;
    const open = this.card.open;
    quick.hidden = !running;
    if (more) more.hidden = !running;
    if (!this.me) setText(quick, "Sign in to bid");
    else setText(quick, open ? `Bid ${money(a.next_min_cents, a.currency || "USD")}` : "Bidding closed");
    // Not disabled while a bid is on its way: a disabled button would drop the keyboard focus.
    quick.disabled = Boolean(this.me) && !open;
    quick.setAttribute("aria-disabled", String(this.sending));
    if (more) {
      more.querySelector("#bid-amount").placeholder = dollars(a.next_min_cents);
      const submit = more.querySelector("button[type=submit]");
      submit.disabled = !open;
      submit.setAttribute("aria-disabled", String(this.sending));
    }
  }

  /** A private `outbid` frame: someone's bid (or maximum) beat yours. */
  outbid(data) {
    const a = this.card.auction;
    if (!a || data.auction_id !== a.id || !this.parts) return;
    setText(this.parts.note, "");
    setText(this.parts.alert, `You've been outbid! The price is now ${money(data.price_cents, a.currency || "USD")}.`);
  }

  tap() {
    const a = this.card.auction;
    if (!this.me) {
      this.onSignIn("Sign in to bid. It takes a few seconds to create an account.");
      return;
    }
    if (a && !this.sending) this.place(a.next_min_cents);
  }

  async custom(form) {
    if (this.sending) return;
    const values = formValues(form);
    const amount = cents(values.amount);
    if (!values.amount || !(amount >= 1)) {
      this.say(`Enter your bid: at least ${money(this.card.auction.next_min_cents)}.`);
      form.elements.amount.focus();
      return;
    }
    const max = values.max ? cents(values.max) : null;
    if (await this.place(amount, max)) form.reset();
  }

  /** POST the bid; true when it was taken. */
  async place(amount, max = null) {
    const a = this.card.auction;
    const body = max ? { amount_cents: amount, max_cents: max } : { amount_cents: amount };
    this.sending = true;
    this.refresh();
    try {
      const { auction } = await api(`/api/auctions/${a.id}/bids`, { method: "POST", body });
      this.card.show(auction);
      this.said(auction, amount);
      return true;
    } catch (error) {
      this.refused(error, a);
      return false;
    } finally {
      this.sending = false;
      this.refresh();
    }
  }

  said(auction, amount) {
    const price = money(amount, auction.currency || "USD");
    const leads = auction.leader?.id === this.me.id;
    setText(this.parts.alert, leads ? "" : "Another bidder's maximum is higher: you are not in the lead.");
    setText(this.parts.note, leads ? `Your bid of ${price} is in. You lead.` : `Your bid of ${price} is in.`);
  }

  say(message) {
    setText(this.parts.note, "");
    setText(this.parts.alert, message);
  }

  refused(error, a) {
    if (!(error instanceof ApiError)) {
      this.say(describe(error));
      return;
    }
    if (error.status === 401) {
      this.onSignIn("Your session expired. Sign in again to bid.");
      return;
    }
    if (error.code === "self_bidding") {
      this.refusedSelf = true;
      this.slot = null; // rebuilt without the bid controls
      this.refresh();
      return;
    }
    if (error.code === "bid_too_low") {
      const next = error.details?.next_min_cents;
      if (typeof next === "number" && this.card.auction?.id === a.id) a.next_min_cents = Math.max(a.next_min_cents, next);
      this.say(`Too low: the next bid must be at least ${money(a.next_min_cents, a.currency || "USD")}.`);
      this.card.refresh();
      return;
    }
    this.say(REFUSED[error.code] || describe(error));
    if (error.code === "checkout_profile_required") this.onProfile();
  }
}
