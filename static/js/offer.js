// What the buy dialog offers right now: the unit price (deal or list), how many can be bought,
// and why the price went up or nothing can be bought, from the pinned card and the buyer's
// own orders. The server decides the price the same way: with live_id, the deal price while
// the deal runs and has units left, counted against its per-buyer limit.

import { money } from "./dom.js";

/**
 * {unit, max, stock, deal, limit, mine, limitUsed, ended}: `deal` when the deal price applies;
 * `limitUsed` (the limit) when this buyer has used the deal's per-buyer limit, so the list
 * price applies and the order goes without live_id; `ended` why a deal is no longer offered.
 * `product` keeps the last stock seen while it is pinned (it is updated here).
 */
export function currentOffer(card, product, orders, liveId) {
  const pinned = card.product !== null && String(card.product.id) === String(product.id);
  if (pinned) product.stock = card.product.stock;
  const list = { unit: product.price_cents, max: product.stock, stock: product.stock, deal: null };
  const deal = pinned ? card.runningDeal() : null;
  if (!deal) return { ...list, ended: pinned ? endedWhy(card.pinned) : "unpinned" };
  const limit = deal.per_buyer_limit || null;
  if (limit === null) return { ...list, unit: deal.price_cents, max: Math.min(product.stock, deal.remaining), deal };
  const used = orders.dealUnits(liveId, product.id, deal, card.dealSince);
  if (used >= limit) return { ...list, limitUsed: limit };
  const mine = limit - used;
  const max = Math.min(product.stock, deal.remaining, mine);
  return { ...list, unit: deal.price_cents, max, deal, limit, mine, used };
}

function endedWhy(pinned) {
  if (pinned.deal && pinned.deal.remaining <= 0) return "sold_out";
  return pinned.dealEnded || "expired";
}

/** The line under the dialog's title: the unit price and where it comes from. */
export function priceLine(offer, currency) {
  const each = `${money(offer.unit, currency)} each`;
  if (offer.limitUsed) {
    return `${each}: you have used this deal's limit (${offer.limitUsed} per buyer), so the list price applies.`;
  }
  if (!offer.deal) return each;
  if (!offer.limit) return `${each} (deal price)`;
  const more = offer.used ? `; ${offer.mine} more for you` : "";
  return `${each} (deal price, max ${offer.limit} per buyer${more})`;
}

const ENDED = {
  sold_out: "The deal has sold out.",
  expired: "The deal has ended.",
  unpinned: "The deal has ended.",
};

/**
 * What blocks Place order, if anything: {text, accept?} with `accept` the label of the button
 * that takes the new price. Sold out waits for stock to come back; a higher price than the
 * buyer agreed to waits for the buyer.
 */
export function noteFor(offer, agreed, currency) {
  if (offer.stock <= 0) return { text: "Sold out: none left right now. This updates if more come in." };
  if (offer.unit <= agreed) return null;
  const price = money(offer.unit, currency);
  const why = offer.limitUsed
    ? `You have now used this deal's limit (${offer.limitUsed} per buyer).`
    : ENDED[offer.ended] || ENDED.expired;
  return { text: `${why} The price is now the list price, ${price} each.`, accept: `Buy at ${price}` };
}
