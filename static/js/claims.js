// Comment-to-buy on the viewer page. When the pin has a claim keyword, a chat message starting
// with it ("sold", "SOLD 2") places an order with the buyer's saved address and card. The
// outcome comes back privately, on the socket: the `order` frame (source "comment"), an
// `error` frame, or `waitlisted` when it was sold out. Error frames do not say which message
// they answer, so the page remembers the claims it sent: an error that is not about chat
// (chat.js says those: muted, slow mode…) answers the oldest claim still waiting.

import { money, toast } from "./dom.js";
import { titleOf } from "./waitlist.js";

// A claim unanswered for this long is forgotten (its answer went missing with a reconnect).
const ANSWER_WITHIN_MS = 30000;
const MAX_DIGITS = 7;

/** The quantity `text` claims with `keyword`, or null when it is no claim: the server's rule
 * (live/claims.py) — the first word is the keyword in any case, trailing punctuation aside,
 * optionally followed by a number. */
export function quantityClaimed(text, keyword) {
  if (!keyword) return null;
  const words = text.split(/\s+/).filter(Boolean);
  if (!words.length || !sameWord(bare(words[0]), keyword)) return null;
  const number = words.length > 1 ? bare(words[1]) : "";
  if (/^[0-9]+$/.test(number)) return number.length <= MAX_DIGITS ? Number(number) : 10 ** MAX_DIGITS;
  return 1;
}

/** The server's message as a sentence: "only 2 left" → "only 2 left." */
const sentence = (message) => `${String(message || "refused").replace(/[.!]+$/, "")}.`;
const bare = (word) => word.replace(/\p{P}+$/u, "");
const sameWord = (a, b) => a.toLowerCase() === b.toLowerCase() || a.toUpperCase() === b.toUpperCase();

/** What a refused claim tells the buyer, by the error's code. */
const REFUSED = {
  checkout_profile_required: (_d, word) =>
    `To buy by comment, save a shipping address and a card first, then type ${word} again.`,
  nothing_pinned: () => "Nothing is pinned right now: nothing was bought.",
  validation_error: (_d, word) => `Not bought: claim 1 to 1000 units, such as "${word} 2".`,
  insufficient_stock: (d) => `Not bought: ${sentence(d.message)} Claim fewer.`,
  deal_limit_exceeded: (d) => `Not bought: ${sentence(d.message)}`,
  payment_declined: () => "Not bought: your card was declined. Choose another in your checkout profile.",
};

export class ClaimNotices {
  /**
   * card: the page's ProductCard (the pin's keyword); orders: the OrderTracker; waitlist:
   * the WaitlistControls; onProfile() opens the checkout profile.
   */
  constructor({ card, orders, waitlist, onProfile }) {
    Object.assign(this, { card, orders, waitlist, onProfile });
    this.keyword = null; // the last pin's: a claim after an unpin is answered too (nothing_pinned)
    this.pending = []; // claims sent and not answered yet, oldest first: {at, quantity, word}
    card.watch(() => {
      if (card.pinned) this.keyword = card.pinned.claim_keyword || null;
    });
  }

  /** A chat message went out: remember it when it claims. */
  sent(text) {
    const quantity = quantityClaimed(text, this.keyword);
    if (quantity !== null) this.pending.push({ at: Date.now(), quantity, word: this.keyword });
  }

  /** The oldest claim waiting for its answer, taken off the list (or null). */
  take() {
    const now = Date.now();
    this.pending = this.pending.filter((claim) => now - claim.at < ANSWER_WITHIN_MS);
    return this.pending.shift() || null;
  }

  /** Chat refused a message (chat.js said why): if it was a claim, nothing was bought. */
  chatRefused() {
    this.take();
  }

  /** An `error` frame; true when it answered a claim (and was said). */
  error(data) {
    const claim = this.take();
    if (!claim) return false;
    const say = REFUSED[data.code];
    toast(say ? say(data, claim.word) : `Not bought: ${sentence(data.message)}`, { kind: "warn", timeout: 8000 });
    if (data.code === "checkout_profile_required") this.onProfile();
    return true;
  }

  /** A `waitlisted` frame {product_id, position}: the claim found it sold out. */
  async waitlisted(data) {
    const claim = this.take();
    this.waitlist.placed(data.product_id, { position: data.position, quantity: claim?.quantity ?? 1 });
    const title = await titleOf(this.card, data.product_id);
    toast(`Sold out — you're #${data.position} on the waitlist for ${title}.`, { timeout: 8000 });
  }

  /** A `waitlist_skipped` frame {product_id, code, message}: this buyer's turn was skipped. */
  async skipped(data) {
    this.waitlist.gone(data.product_id);
    const title = await titleOf(this.card, data.product_id);
    const fix = data.code === "payment_declined" ? " Choose another card in your checkout profile and join again." : "";
    toast(`Your turn on the waitlist for ${title} was skipped: ${sentence(data.message)}${fix}`, { kind: "warn", timeout: 10000 });
  }

  /** An `order` frame: true when it was a new comment or waitlist order (said here, not by
   * the tracker's "placed" toast); its later status changes go through the tracker. */
  order(order) {
    if (order.source !== "comment" && order.source !== "waitlist") return false;
    if (this.orders.orders.has(order.id)) return false;
    this.orders.update(order, { quiet: true });
    if (order.source === "comment") this.take();
    else this.waitlist.gone(order.product_id);
    this.announce(order);
    return true;
  }

  async announce(order) {
    const title = await titleOf(this.card, order.product_id);
    const what = `${title} × ${order.quantity} for ${money(order.total_cents, order.currency)} (order #${order.id})`;
    const text = order.source === "comment" ? `Bought by comment: ${what}.` : `A unit came back: it's yours! ${what}.`;
    toast(text, { kind: "ok", timeout: 10000, key: `claim-${order.id}` });
  }
}
