// Stream-time sync on the viewer page: pins, deals, auctions and giveaways show when the
// picture reaches them, countdowns run on the picture's clock, and buying stays honest.
//
// - Clock: the picture's wall-clock time (stream-clock.js) when known and no more than
//   MAX_BEHIND_MS behind the server's clock; otherwise none, and the page works on the
//   server's clock as without sync. Countdowns use `now()`: the picture's time, never ahead of
//   the server's.
// - Frames: commerce events wait in a FrameGate (frame-gate.js) until the picture reaches
//   their ts; a snapshot (join, reconnect without recovery) is the server's state now and is
//   shown at once, dropping whatever waited (the snapshot includes it).
// - Honesty: the server prices by its own clock. Each frame is noted when it *arrives*, held
//   or not, so the cards below stop offering a deal, a bid or an entry the moment the server
//   has ended it (its deal_ended / auction_ended / giveaway_ended arrived, or the server's
//   clock passed its ends_at), even though the picture has not got there yet.

import { AuctionCard, setText } from "./auction.js";
import { ProductCard } from "./card.js";
import { FrameGate } from "./frame-gate.js";
import { GiveawayCard } from "./giveaway.js";

/** A picture further behind than this (a viewer paused) no longer holds anything back. */
export const MAX_BEHIND_MS = 60000;

const dealKey = (productId, endsAt) => `${productId} ${endsAt}`;

export class StreamSync {
  /** serverNow(): the server's clock (ms); apply(frame): show a broadcast event. */
  constructor({ serverNow, apply }) {
    this.serverNow = serverNow;
    this.player = null;
    this.gate = new FrameGate({ clock: () => this.pictureClock(), apply });
    this.now = () => this.displayNow();
    this.dealEnds = new Map(); // product id → ends_at of its newest deal that arrived
    this.endedDeals = new Set(); // dealKey()s the server ended
    this.auctionEnds = new Map(); // auction id → newest ends_at that arrived (bids extend it)
    this.closedAuctions = new Set();
    this.closedGiveaways = new Set();
    this.watchers = new Set();
  }

  /** The stream's player (stream-clock.js), or null without a stream. */
  setPlayer(player) {
    this.player = player;
    this.gate.check(); // no clock any more: what waited shows now
  }

  /** The picture's time (ms) when known and not too far behind, else null. */
  pictureClock() {
    const picture = this.player?.pictureNow() ?? null;
    if (picture === null || this.serverNow() - picture > MAX_BEHIND_MS) return null;
    return picture;
  }

  /** The clock countdowns run on: the picture's, never ahead of the server's. */
  displayNow() {
    const server = this.serverNow();
    const picture = this.pictureClock();
    return picture === null ? server : Math.min(picture, server);
  }

  /** A broadcast event from the socket. */
  event(frame) {
    this.arrived(frame);
    this.gate.push(frame);
  }

  /** A snapshot: shown at once; nothing waits any more. */
  snapshot(data) {
    this.gate.clear();
    const deal = data.pinned?.deal;
    if (deal) this.dealEnds.set(data.pinned.product.id, deal.ends_at);
    if (data.auction) this.noteAuctionEnd(data.auction.id, data.auction.ends_at);
  }

  /** Call fn() when the server ended something the picture may not show yet. */
  watch(fn) {
    this.watchers.add(fn);
  }

  arrived({ type, data: d }) {
    if (type === "pinned" && d.deal) this.dealEnds.set(d.product.id, d.deal.ends_at);
    else if (type === "deal_ended") this.endedDeals.add(dealKey(d.product_id, this.dealEnds.get(d.product_id)));
    else if (type === "auction_started") this.noteAuctionEnd(d.auction.id, d.auction.ends_at);
    else if (type === "bid") this.noteAuctionEnd(d.auction_id, d.ends_at);
    else if (type === "auction_ended") this.closedAuctions.add(d.auction_id);
    else if (type === "giveaway_ended") this.closedGiveaways.add(d.giveaway_id);
    else return;
    for (const fn of this.watchers) fn();
  }

  noteAuctionEnd(id, endsAt) {
    const known = this.auctionEnds.get(id);
    if (!known || Date.parse(endsAt) > Date.parse(known)) this.auctionEnds.set(id, endsAt);
  }

  /** The server still sells at this deal's price: not ended, and before ends_at on its clock. */
  dealOpen(productId, deal) {
    return !this.endedDeals.has(dealKey(productId, deal.ends_at)) && Date.parse(deal.ends_at) > this.serverNow();
  }

  /** The server still takes bids: not ended, and before the newest ends_at on its clock. */
  auctionOpen(a) {
    const endsAt = Math.max(Date.parse(a.ends_at), Date.parse(this.auctionEnds.get(a.id) ?? a.ends_at));
    return !this.closedAuctions.has(a.id) && this.serverNow() < endsAt;
  }

  /** The server still takes entries. */
  giveawayOpen(g) {
    return !this.closedGiveaways.has(g.id) && this.serverNow() < Date.parse(g.ends_at);
  }
}

/** The pinned card on the picture's clock that never offers a deal the server has ended. */
export class SyncedProductCard extends ProductCard {
  constructor(root, { sync, ...options }) {
    super(root, { ...options, serverNow: sync.now });
    this.sync = sync;
    sync.watch(() => this.refresh());
  }

  runningDeal() {
    const deal = super.runningDeal();
    return deal && this.sync.dealOpen(this.product.id, deal) ? deal : null;
  }
}

/** The auction card on the picture's clock that never offers a bid the server would refuse
 * as closed. */
export class SyncedAuctionCard extends AuctionCard {
  constructor(root, { sync, ...options }) {
    super(root, { ...options, serverNow: sync.now });
    this.sync = sync;
    sync.watch(() => this.refresh());
  }

  get open() {
    return super.open && this.sync.auctionOpen(this.auction);
  }

  refresh() {
    super.refresh();
    if (this.parts && this.auction.status === "running" && !this.open) {
      setText(this.parts.timer, "Bidding closed. Settling…"); // not a countdown the server ended
    }
  }
}

/** The giveaway card on the picture's clock that never offers an entry the server would
 * refuse as closed. */
export class SyncedGiveawayCard extends GiveawayCard {
  constructor(root, { sync, ...options }) {
    super(root, { ...options, serverNow: sync.now });
    this.sync = sync;
    sync.watch(() => this.refresh());
  }

  get open() {
    return super.open && this.sync.giveawayOpen(this.giveaway);
  }

  refresh() {
    super.refresh();
    if (this.parts && this.giveaway.status === "open" && !this.open) {
      setText(this.parts.timer, "Entries closed. Drawing the winner…");
    }
  }
}
