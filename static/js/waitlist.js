// The waitlist on the viewer page's product card: "Notify me" on a sold-out product joins its
// waitlist (POST /api/products/{id}/waitlist), the card then says "You're #N on the waitlist"
// with Leave (DELETE). A unit that comes back becomes the first waiting buyer's order, placed
// with their saved address and card: the `order` frame (source "waitlist") says so, and a
// `waitlist_skipped` frame says when a turn was skipped (a declined card, no profile left).
// The page does not learn a place it did not make itself (there is no "my place" read):
// after a reload "Notify me" shows again, and tapping it keeps the place and tells it.

import { api, ApiError, describe } from "./api.js";
import { h, replace } from "./dom.js";
import { getProduct } from "./products.js";

const REFUSED = {
  checkout_profile_required: "Save a shipping address and a card first: when a unit comes back, the order is placed with them.",
  in_stock: "It is back in stock: buy it now.",
};

export class WaitlistControls {
  /**
   * card: the page's ProductCard (controls go in its slot); me: the signed-in user or null;
   * onSignIn(reason) asks to sign in; onProfile() opens the checkout profile.
   */
  constructor(card, { me, onSignIn, onProfile }) {
    Object.assign(this, { card, me, onSignIn, onProfile });
    this.places = new Map(); // product id → {position, quantity}: the places this page made or was told
    this.slot = null;
    this.parts = null;
    this.sending = false;
    this.note = ""; // said in place of the position once off the list ("You left the waitlist.")
    this.soldOut = null; // the card's sold-out state the alert was said in
    card.watch(() => this.refresh());
  }

  /** This buyer's place (a `waitlisted` frame or the POST answer). */
  placed(productId, place) {
    this.places.set(productId, place);
    this.refresh();
  }

  /** The buyer is off the list: served, skipped or left. */
  gone(productId) {
    if (!this.places.delete(productId)) return;
    this.refresh();
  }

  attach() {
    const slot = this.card.parts?.slot;
    if (!slot || slot === this.slot) return;
    this.slot = slot;
    this.note = "";
    const join = h(
      "button",
      { type: "button", class: "btn btn-primary", id: "waitlist-join", "aria-describedby": "waitlist-about", on: { click: () => this.join() } },
      "Notify me",
    );
    const leave = h(
      "button",
      { type: "button", class: "btn", id: "waitlist-leave", on: { click: () => this.leave() } },
      "Leave the waitlist",
    );
    const about = h(
      "p",
      { class: "muted small flush", id: "waitlist-about" },
      "Join the waitlist: when a unit comes back it is ordered for you, with your saved address and card.",
    );
    const place = h("p", { class: "waitlist-place", id: "waitlist-place", role: "status" });
    const alert = h("p", { class: "waitlist-alert", id: "waitlist-alert", role: "alert" });
    const box = h("div", { class: "waitlist", id: "waitlist" }, about, join, place, leave, alert);
    this.parts = { box, join, leave, about, place, alert };
    replace(slot, box);
  }

  refresh() {
    const product = this.card.product;
    if (!product) return;
    this.attach();
    const { box, join, leave, about, place, alert } = this.parts;
    const mine = this.places.get(product.id);
    const soldOut = product.stock <= 0;
    if (soldOut !== this.soldOut) {
      // Sold out or back in stock since the last refusal: it no longer applies.
      this.soldOut = soldOut;
      setText(alert, "");
    }
    if (mine) this.note = "";
    box.hidden = !mine && !soldOut && !alert.textContent;
    this.slot.hidden = box.hidden; // no empty row in the card
    const moveFocus = document.activeElement === (mine ? join : leave);
    join.hidden = Boolean(mine) || !soldOut;
    about.hidden = join.hidden;
    leave.hidden = !mine;
    setText(place, mine ? placeText(mine) : this.note);
    join.setAttribute("aria-disabled", String(this.sending));
    leave.setAttribute("aria-disabled", String(this.sending));
    if (moveFocus) (mine ? leave : join).focus();
  }

  say(message) {
    this.attach();
    this.soldOut = (this.card.product?.stock ?? 0) <= 0;
    setText(this.parts.alert, message);
    this.refresh();
  }

  async join() {
    const product = this.card.product;
    if (!product || this.sending) return;
    if (!this.me) {
      this.onSignIn("Sign in to join the waitlist. It takes a few seconds to create an account.");
      return;
    }
    this.say("");
    const answer = await this.send(`/api/products/${product.id}/waitlist`, "POST");
    if (answer) this.placed(product.id, answer.waitlist);
  }

  async leave() {
    const product = this.card.product;
    if (!product || this.sending) return;
    this.say("");
    if ((await this.send(`/api/products/${product.id}/waitlist`, "DELETE")) === undefined) return;
    this.note = "You left the waitlist.";
    this.places.delete(product.id);
    this.refresh();
  }

  /** The API's answer (null for 204), or undefined after saying why it was refused. */
  async send(path, method) {
    const product = this.card.product;
    this.sending = true;
    this.refresh();
    try {
      return await api(path, { method });
    } catch (error) {
      this.refused(error, product);
      return undefined;
    } finally {
      this.sending = false;
      this.refresh();
    }
  }

  async refused(error, product) {
    if (error instanceof ApiError && error.status === 401) {
      this.onSignIn("Your session expired. Sign in again to join the waitlist.");
      return;
    }
    if (error.code === "in_stock") {
      // The card missed the restock's frame (or it is on its way): show Buy again.
      try {
        const { product: now } = await api(`/api/products/${product.id}`);
        this.card.stock({ product_id: now.id, stock: now.stock });
      } catch {
        /* the next stock frame puts it right */
      }
    }
    if (this.card.product?.id !== product.id) return; // another pin meanwhile
    this.say(REFUSED[error.code] || describe(error));
    if (error.code === "checkout_profile_required") this.onProfile();
  }
}

/** "You're #2 on the waitlist" (for 3 units). */
function placeText({ position, quantity }) {
  const units = quantity > 1 ? ` for ${quantity} units` : "";
  return `You're #${position} on the waitlist${units}.`;
}

/** A product's title for a toast (the card's when pinned, else from the API). */
export async function titleOf(card, productId) {
  if (card.product?.id === productId) return card.product.title;
  try {
    return (await getProduct(productId)).title;
  } catch {
    return `product #${productId}`;
  }
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
