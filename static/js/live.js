// /live/{id}: the viewer page. Everything live arrives over the socket; the
// page never reloads to show a pin, a stock change, an order status or chat.

import { api, currentSession, pageId } from "./api.js";
import { BidControls, viewerOutcome } from "./auction-bid.js";
import { mountHeader, openSignIn } from "./auth.js";
import { ShowBag } from "./bag.js";
import { openBuy } from "./buy.js";
import { Chat } from "./chat.js";
import { ClaimNotices, quantityClaimed } from "./claims.js";
import { $, h, label, replace, toast } from "./dom.js";
import { OrderTracker } from "./orders.js";
import { loadProfile, openProfile } from "./profile.js";
import { BUSY_CODE, LiveSocket } from "./socket.js";
import { playStream } from "./stream-clock.js";
import { StreamSync, SyncedAuctionCard, SyncedGiveawayCard, SyncedProductCard } from "./stream-sync.js";
import { WaitlistControls } from "./waitlist.js";

const POSTER = "/static/img/poster.svg";
// Set when Buy asked to sign in: after the reload the buy dialog opens again for that product.
const RESUME_KEY = "livecart.resumeBuy";
const liveId = pageId();
const user = mountHeader({ onProfile: () => openProfile() });
const { token } = currentSession();
const signIn = (reason) => openSignIn({ reason });

const socket = new LiveSocket(liveId, {
  token,
  onSnapshot: applySnapshot,
  onEvent: (frame) => sync.event(frame),
  onFrame: applyFrame,
  onResumed: () => auction.load(liveId),
  onStatus: showStatus,
});
// Stream-time sync (stream-sync.js): commerce events wait for the picture to reach them.
const sync = new StreamSync({ serverNow: () => socket.serverNow(), apply: applyEvent });
let player = null; // the stream's player (stream-clock.js)
const card = new SyncedProductCard($("#card"), {
  sync,
  onBuy: buy,
});
const chat = new Chat($("#chat"), {
  socket,
  user,
  onSignIn: () => signIn("Sign in to chat."),
  onSent: (text) => {
    claims.sent(text);
    // A line with the pin's claim keyword is a claim, never an entry (as on the server).
    if (quantityClaimed(text, claims.keyword) === null) giveaway.sent(text);
  },
});
const orders = new OrderTracker($("#orders-panel"), $("#orders"));
// "Shop this show" (bag.js): every product pinned so far; "Watch the replay" once it ended.
const bag = new ShowBag($("#bag"), { liveId, orders, ready: () => ready });
$("#replay-link").href = `/replay/${encodeURIComponent(liveId)}`;
const waitlist = new WaitlistControls(card, {
  me: user,
  onSignIn: (reason) => openSignIn({ reason, onSignedIn: () => location.reload() }),
  onProfile: () => openProfile(),
});
// Comment-to-buy: what a claim typed in chat came to (order, refusal, waitlist place).
const claims = new ClaimNotices({ card, orders, waitlist, onProfile: () => openProfile() });
const auction = new SyncedAuctionCard($("#auction"), {
  sync,
  me: user,
  productFor: (id) => (card.product?.id === id ? card.product : null),
  outcome: viewerOutcome,
});
const bids = new BidControls(auction, {
  me: user,
  watchOnly: hostOrModerator,
  onSignIn: (reason) => openSignIn({ reason, onSignedIn: () => location.reload() }),
  onProfile: () => openProfile(),
});
const giveaway = new SyncedGiveawayCard($("#giveaway"), {
  sync,
  socket,
  me: user,
  watchOnly: hostOrModerator,
  onSignIn: (reason) => openSignIn({ reason, onSignedIn: () => location.reload() }),
  onProfile: () => openProfile(),
});
card.watch(sideBySide);
card.watch(() => bag.follow(card.product));
auction.watch(sideBySide);
let live = null;
let streamUrl;
let moderating = null; // enableModeration(), once

function applySnapshot(data) {
  sync.snapshot(data); // the server's state now, shown at once: nothing waits any more
  live = data.live;
  if (!live) return;
  document.title = `${live.title} — livecart`;
  $("#live-title").textContent = live.title;
  chat.creatorId = live.creator_id;
  moderating ??= user ? enableModeration() : null;
  setStatus(live.status);
  bag.load();
  setStream(live.stream_url);
  setViewers(data.viewers);
  card.set(data.pinned);
  chat.reset(data.recent_chat || []);
  if (typeof data.slow_mode === "number") chat.setSlowMode(data.slow_mode);
  if (data.recovered === false) toast("Reconnected. The page is up to date again.");
  showAuction(data);
  showGiveaway(data);
  resumeBuy();
}

/** The snapshot carries the running auction: no request per viewer joining a big show.
 * Only a card left running on screen (its auction_ended missed while away) asks the API. */
function showAuction(data) {
  if (!("auction" in data)) auction.load(liveId);
  else if (data.auction) auction.show(data.auction);
  else if (auction.auction?.status === "running") auction.load(liveId);
}

/** The open giveaway comes in the snapshot too; one left open on screen missed its end. */
function showGiveaway(data) {
  if (!("giveaway" in data)) giveaway.load(liveId);
  else if (data.giveaway) giveaway.show(data.giveaway);
  else if (giveaway.giveaway?.status === "open") giveaway.load(liveId);
}

/** The host and moderators watch the auction without bidding (the server refuses their bids).
 * A moderator is known when it pinned the product; otherwise from the server's 403. */
function hostOrModerator() {
  if (!user || !live) return false;
  return user.id === live.creator_id || card.pinned?.by?.id === user.id;
}

/** While an auction runs on the pinned product, its card stands in for the product card. */
function sideBySide() {
  const a = auction.auction;
  const running = Boolean(a) && a.status === "running" && card.product?.id === a.product_id;
  $("#card").classList.toggle("behind-auction", running);
}

function applyEvent(frame) {
  const d = frame.data;
  switch (frame.type) {
    case "pinned":
      card.set(d, { since: frame.ts ?? null });
      // An ended auction's banner stays until something else is pinned.
      if (auction.auction && auction.auction.status !== "running" && auction.auction.product_id !== d.product.id) auction.clear();
      break;
    case "unpinned":
      if (card.product?.id === d.product_id) card.set(null);
      break;
    case "stock":
      bag.stock(d);
      card.stock(d);
      break;
    case "deal_ended":
      card.dealEnded(d);
      break;
    case "live_started":
      setStatus("live");
      break;
    case "live_ended":
      setStatus("ended");
      break;
    case "chat":
      chat.add(d);
      break;
    case "chat_deleted":
      chat.remove(d.id);
      break;
    case "slow_mode":
      chat.setSlowMode(d.seconds);
      break;
    case "auction_started":
      auction.show(d.auction);
      break;
    case "bid":
      auction.bid(d);
      break;
    case "auction_ended":
      auction.ended(d);
      break;
    case "giveaway_started":
      // Just started: nobody is in yet.
      giveaway.show({ ...d.giveaway, entered: d.giveaway.entered ?? (user ? false : null) });
      break;
    case "giveaway_entries":
      giveaway.counted(d);
      break;
    case "giveaway_ended":
      giveaway.ended(d);
      break;
    default:
      break; // the protocol grows: unknown events are ignored
  }
}

function applyFrame(frame) {
  const d = frame.data;
  switch (frame.type) {
    case "viewers":
      setViewers(d.count);
      break;
    case "order":
      if (!claims.order(d.order)) orders.update(d.order);
      break;
    case "outbid":
      bids.outbid(d);
      break;
    case "giveaway_entered":
      giveaway.entered(d);
      break;
    case "waitlisted":
      claims.waitlisted(d);
      break;
    case "waitlist_skipped":
      claims.skipped(d);
      break;
    case "error":
      // Chat refusals are said by the chat (a refused claim bought nothing, a refused keyword
      // entered nothing); a claim's or an entry's by a toast.
      if (chat.error(d)) giveaway.chatRefused() || claims.chatRefused();
      else if (!giveaway.error(d) && !claims.error(d)) toast(d.message, { kind: "warn" });
      break;
    default:
      break;
  }
}

let wasLive = false;

function showStatus(status, detail = {}) {
  const banner = $("#banner");
  const messages = {
    reconnecting: "Connection lost. Reconnecting…",
    // The server closed with 1013: overloaded for now, the socket retries with back-off.
    busy: `It is very busy right now. We will keep trying to get you ${wasLive ? "back " : ""}in…`,
    offline: "You are offline. We will reconnect when the network is back.",
    gone: "This live does not exist.",
  };
  if (status === "live") {
    if (!banner.hidden && wasLive) toast("Back online.", { kind: "ok" });
    banner.hidden = true;
    wasLive = true;
    return;
  }
  if (status === "banned") {
    chat.error({ code: "banned" });
    chat.input.disabled = true;
    return;
  }
  if (status === "connecting" || status === "unauthorized") return; // anonymous from now on
  const state = status === "reconnecting" && detail.code === BUSY_CODE ? "busy" : status;
  const text = messages[state];
  if (!text) return;
  if (banner.textContent !== text) banner.textContent = text; // no repeat announcement per retry
  banner.hidden = false;
  banner.dataset.state = state;
  if (status === "gone") $("#live-title").textContent = "Live not found";
}

function setStatus(status) {
  const badge = $("#live-status");
  badge.textContent = status === "live" ? "LIVE" : label(status);
  badge.className = `badge badge-${status}`;
  $("#ended-note").hidden = status !== "ended";
  bag.setStatus(status);
  if (live) live.status = status;
}

function setViewers(count) {
  $("#viewers").textContent = `${count} watching`;
}

function setStream(url) {
  if (url === streamUrl) return;
  streamUrl = url;
  const poster = () =>
    h("img", { src: POSTER, alt: "The stream has no video right now", class: "stream-poster" });
  player?.destroy();
  player = null;
  sync.setPlayer(null);
  if (!url) {
    replace($("#stream"), poster());
    return;
  }
  const video = h("video", {
    poster: POSTER,
    autoplay: true,
    muted: true,
    playsInline: true,
    controls: true,
    "aria-label": "Live stream",
  });
  let mine = null;
  const failed = () => {
    mine?.destroy(); // no picture clock any more: what waits for it shows now
    if (mine !== player) return; // an older stream's late error
    replace($("#stream"), poster(), h("p", { class: "stream-note" }, "The stream cannot be played here."));
  };
  video.addEventListener("error", failed);
  mine = player = playStream(video, url, { onError: failed });
  sync.setPlayer(player);
  replace($("#stream"), video);
}

function buy(theCard) {
  if (!currentSession().user) {
    signInToBuy(theCard.product, "Sign in to buy. It takes a few seconds to create an account.");
    return;
  }
  openBuy(theCard, {
    liveId,
    orders,
    onOrder: (order) => orders.update(order),
    onSignIn: () => signInToBuy(theCard.product, "Your session expired. Sign in again to buy."),
  });
}

/** Sign in (or sign up), then reload signed in and come back to Buy for this product. */
function signInToBuy(product, reason) {
  openSignIn({
    reason,
    onSignedIn: () => {
      sessionStorage.setItem(RESUME_KEY, JSON.stringify({ liveId: String(liveId), productId: String(product.id) }));
      location.reload();
    },
  });
}

let resuming = null;
try {
  resuming = JSON.parse(sessionStorage.getItem(RESUME_KEY) || "null");
} catch {
  resuming = null;
}
sessionStorage.removeItem(RESUME_KEY);

/** After the first snapshot (and this buyer's orders and profile): Buy again, once. */
async function resumeBuy() {
  const wanted = resuming;
  resuming = null;
  if (!wanted || wanted.liveId !== String(liveId) || !currentSession().user) return;
  await ready;
  if (String(card.product?.id) === wanted.productId) {
    buy(card);
    return;
  }
  toast("That product is no longer pinned.", { kind: "warn" });
}

async function loadOrders() {
  try {
    const { orders: mine } = await api("/api/orders?limit=50");
    orders.seed(mine.filter((o) => String(o.live_id) === String(liveId)));
  } catch {
    /* the list fills from order frames */
  }
}

/** The host, this live's moderators and admins get the chat's moderator tools. Asked once,
 * after the first snapshot (the live exists); a 200 either way, so a viewer's page logs no 403. */
async function enableModeration() {
  if (user.id === live.creator_id || user.role === "admin") {
    chat.setModerator(true);
    return;
  }
  try {
    const path = `/api/lives/${encodeURIComponent(liveId)}/can-moderate`;
    chat.setModerator((await api(path)).can_moderate);
  } catch {
    /* no tools: the chat works as for any viewer */
  }
}

const ready = user ? Promise.all([loadOrders(), loadProfile()]) : Promise.resolve();
socket.start();
