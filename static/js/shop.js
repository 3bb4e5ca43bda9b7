// Buying one of a show's products at its list price: from the live page's "Shop this show"
// list (through the live, or from its replay once it has ended) and from the replay page
// (source "replay"). The dialog is buy.js's; the card it follows is a list-price one (no deal,
// the product's stock as last heard). Also the small parts both lists share.

import { currentSession } from "./api.js";
import { openSignIn } from "./auth.js";
import { openBuy } from "./buy.js";
import { h } from "./dom.js";

// Set when Buy asked to sign in: after the reload the buy dialog opens again for that product.
const RESUME_KEY = "livecart.resumeShopBuy";
const FEW_LEFT = 10;

/** What buy.js and offer.js read from a card, for a product bought at its list price. */
export class ListPriceCard {
  constructor(product) {
    this.pinned = { product: structuredClone(product), deal: null };
    this.dealSince = null;
    this.watchers = new Set();
  }

  get product() {
    return this.pinned.product;
  }

  runningDeal() {
    return null; // the list price, always
  }

  watch(fn) {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /** The product's stock changed (a `stock` frame): the open dialog follows it. */
  stock(stock) {
    this.pinned.product.stock = stock;
    for (const fn of this.watchers) fn();
  }
}

/**
 * The buy dialog for `product` at its list price; signed out, the sign-in dialog first (the
 * page reloads signed in and `resumeShopBuy` opens the dialog again). Returns the dialog's
 * card (to pass it stock changes) or null.
 */
export function buyAtListPrice(product, { liveId, orders, onOrder, source = null }) {
  const signIn = (reason) =>
    openSignIn({
      reason,
      onSignedIn: () => {
        const note = { path: location.pathname, productId: String(product.id) };
        sessionStorage.setItem(RESUME_KEY, JSON.stringify(note));
        location.reload();
      },
    });
  if (!currentSession().user) {
    signIn("Sign in to buy. It takes a few seconds to create an account.");
    return null;
  }
  const card = new ListPriceCard(product);
  openBuy(card, {
    liveId,
    orders,
    source,
    onOrder,
    onSignIn: () => signIn("Your session expired. Sign in again to buy."),
  });
  return card;
}

/** The product id whose Buy asked to sign in on this page, once (then forgotten). */
export function resumeShopBuy() {
  let note = null;
  try {
    note = JSON.parse(sessionStorage.getItem(RESUME_KEY) || "null");
  } catch {
    note = null;
  }
  sessionStorage.removeItem(RESUME_KEY);
  if (!note || note.path !== location.pathname || !currentSession().user) return null;
  return note.productId;
}

/** A product's small picture in a list (its title is next to it: no alt text). */
export function thumb(product) {
  return product.image_url
    ? h("img", { class: "shop-thumb", src: product.image_url, alt: "", width: 48, height: 48 })
    : h("span", { class: "shop-thumb shop-thumb-empty", "aria-hidden": "true" });
}

/** "Sold out", "Only 3 left" or "" from a product's stock. */
export function stockText(product) {
  if (product.stock === null || product.stock === undefined) return "";
  if (product.stock <= 0) return "Sold out";
  return product.stock <= FEW_LEFT ? `Only ${product.stock} left` : "";
}
