// /studio/{id}: the creator's (and moderators') control room. Start and end
// the live (creator only), pin products and deals (with a comment-to-buy keyword),
// run auctions and giveaways, see who waits for a product and restock it per warehouse
// (creator only), watch stats (the replay's sales apart), moderate chat (delete, mute, ban,
// blocked words), change the show's settings (creator only: studio-show.js), and manage the
// creator's webhooks, told at the top when one was disabled (creator only: studio-webhooks.js).

import { api, currentSession, describe, pageId } from "./api.js";
import { mountHeader, openSignIn } from "./auth.js";
import { ProductCard } from "./card.js";
import { AuctionDesk } from "./studio-auction.js";
import { Chat } from "./chat.js";
import { GiveawayDesk } from "./studio-giveaway.js";
import { $, h, label, replace, toast } from "./dom.js";
import { LiveSocket } from "./socket.js";
import { ProductShelf } from "./studio-products.js";
import { LiveStats } from "./studio-stats.js";
import { ModeratorPanel } from "./studio-mods.js";
import { ModerationPanel } from "./studio-moderation.js";
import { ShowSettings } from "./studio-show.js";
import { WebhooksPanel } from "./studio-webhooks.js";

const liveId = pageId();
const user = mountHeader();
let live = null;
let isCreator = false;

function deny(message, { signIn = false } = {}) {
  const note = $("#access-note");
  replace(
    note,
    h("p", {}, message),
    signIn && h("button", { type: "button", class: "btn btn-primary", on: { click: () => openSignIn() } }, "Sign in"),
  );
  note.hidden = false;
}

async function access() {
  try {
    live = (await api(`/api/lives/${encodeURIComponent(liveId)}`)).live;
  } catch (error) {
    deny(error.status === 404 ? "This live does not exist." : describe(error));
    return false;
  }
  $("#live-title").textContent = live.title;
  document.title = `Studio: ${live.title} — livecart`;
  $("#viewer-link").href = `/live/${live.id}`;
  if (!user) {
    deny("The studio is for this live's creator and moderators. Sign in first.", { signIn: true });
    return false;
  }
  isCreator = user.id === live.creator_id || user.role === "admin";
  if (!isCreator) {
    try {
      await api(`/api/lives/${live.id}/moderators`);
    } catch {
      deny("Only this live's creator and its moderators can use the studio.");
      return false;
    }
  }
  $("#role-note").textContent = isCreator ? "You are the host" : "You are a moderator";
  return true;
}

function setStatus(status) {
  live.status = status;
  show?.setStatus(status);
  const badge = $("#live-status");
  badge.textContent = status === "live" ? "LIVE" : label(status);
  badge.className = `badge badge-${status}`;
  shelf.setCanPin(status === "live");
  desk?.setCanStart(status === "live");
  giveaways?.setCanStart(status === "live");
  if (!isCreator) return;
  const box = $("#lifecycle");
  if (status === "scheduled") {
    replace(box, h("button", { type: "button", class: "btn btn-primary", id: "start-live", on: { click: () => lifecycle("start") } }, "Go live"));
  } else if (status === "live") {
    replace(box, h("button", { type: "button", class: "btn btn-danger", id: "end-live", on: { click: confirmEnd } }, "End live"));
  } else {
    replace(box, h("span", { class: "muted" }, "This live has ended."));
  }
}

function confirmEnd() {
  replace(
    $("#lifecycle"),
    h("span", {}, "End the live for everyone?"),
    h("button", { type: "button", class: "btn btn-danger", id: "confirm-end", on: { click: () => lifecycle("end") } }, "Yes, end it"),
    h("button", { type: "button", class: "btn", on: { click: () => setStatus(live.status) } }, "Keep going"),
  );
  $("#confirm-end").focus();
}

async function lifecycle(action) {
  try {
    const result = await api(`/api/lives/${live.id}/${action}`, { method: "POST" });
    show.updated(result.live); // when it started or ended
    setStatus(result.live.status);
    toast(action === "start" ? "You are live!" : "The live has ended.", { kind: "ok" });
    $("#lifecycle button")?.focus();
  } catch (error) {
    toast(describe(error), { kind: "warn" });
    setStatus(live.status);
  }
}

let show;
let shelf;
let desk;
let giveaways;
let card;
let stats;
let chat;

function showPinned(pinned) {
  card.set(pinned);
  $("#nothing-pinned").hidden = Boolean(pinned);
  $("#unpin").hidden = !pinned;
  shelf.setPinned(pinned ? pinned.product.id : null);
}

function onEvent(frame) {
  const d = frame.data;
  if (desk.event(frame) || giveaways.event(frame)) return;
  switch (frame.type) {
    case "pinned": showPinned(d); break;
    case "unpinned": showPinned(null); break;
    case "stock": card.stock(d); shelf.stock(d); desk.refresh(); giveaways.refresh(); break;
    case "deal_ended": card.dealEnded(d); break;
    case "live_started": setStatus("live"); break;
    case "live_ended": setStatus("ended"); break;
    case "live_updated": show.updated(d); break;
    case "chat": chat.add(d); break;
    case "chat_deleted": chat.remove(d.id); break;
    case "slow_mode": chat.setSlowMode(d.seconds); break;
    default: break;
  }
}

function onStatus(status) {
  const banner = $("#banner");
  if (status === "live") banner.hidden = true;
  else if (status === "reconnecting" || status === "offline") {
    banner.textContent = "Connection lost. Reconnecting…";
    banner.hidden = false;
  }
}

async function main() {
  if (!(await access())) return;
  show = new ShowSettings(live, { editable: isCreator });
  if (isCreator) show.mount($("#show-panel"));
  show.renderHeader();
  shelf = new ProductShelf($("#products"), {
    liveId: live.id,
    creatorId: live.creator_id,
    keywordInput: $("#claim-keyword"),
    waitlists: isCreator, // a product's waitlist is its creator's to read
    inventory: isCreator, // and so are its units per warehouse
  });
  const socket = new LiveSocket(live.id, {
    token: currentSession().token,
    onSnapshot: (data) => {
      show.updated(data.live);
      setStatus(data.live.status);
      showPinned(data.pinned);
      desk.load();
      giveaways.load();
      stats.setViewers(data.viewers);
      chat.reset(data.recent_chat || []);
      if (typeof data.slow_mode === "number") chat.setSlowMode(data.slow_mode);
    },
    onEvent,
    onResumed: () => {
      desk.load();
      giveaways.load();
    },
    onFrame: (frame) => {
      if (frame.type === "viewers") stats.setViewers(frame.data.count);
      else if (frame.type === "error" && !chat.error(frame.data)) toast(frame.data.message, { kind: "warn" });
    },
    onStatus,
  });
  card = new ProductCard($("#pinned-card"), { serverNow: () => socket.serverNow(), showBuy: false });
  desk = new AuctionDesk($("#auction-panel"), { liveId: live.id, serverNow: () => socket.serverNow(), products: () => shelf.products });
  giveaways = new GiveawayDesk($("#giveaway-panel"), { liveId: live.id, serverNow: () => socket.serverNow(), products: () => shelf.products });
  stats = new LiveStats(live.id, { currency: "USD", ended: () => live.status === "ended" });
  chat = new Chat($("#chat"), { socket, user, moderator: true, creatorId: live.creator_id });
  const moderation = new ModerationPanel($("#moderation-panel"), { liveId: live.id, serverNow: () => socket.serverNow() });
  $("#chat").addEventListener("moderated", () => moderation.loadLists());
  $("#slow-mode").addEventListener("change", (event) => {
    const seconds = Number(event.target.value);
    if (socket.send({ type: "slow_mode", seconds })) toast(seconds ? `Slow mode: ${seconds} s` : "Slow mode off");
  });
  $("#products").addEventListener("restocked", () => {
    desk.refresh();
    giveaways.refresh();
  });
  $("#chat").addEventListener("slowmode", (event) => ($("#slow-mode").value = String(event.detail)));
  $("#unpin").addEventListener("click", async () => {
    try {
      await api(`/api/lives/${live.id}/pin`, { method: "DELETE" });
    } catch (error) {
      toast(describe(error), { kind: "warn" });
    }
  });
  for (const id of ["#pinned-panel", "#auction-panel", "#giveaway-panel", "#stats-panel", "#products-panel", "#chat"]) $(id).hidden = false;
  setStatus(live.status);
  moderation.load();
  if (isCreator) {
    $("#new-product").append(shelf.newProductForm());
    new ModeratorPanel(live.id).load();
  }
  // The creator's own endpoints (an admin's list would be every creator's: not here).
  if (user.id === live.creator_id && user.role === "creator") {
    new WebhooksPanel($("#webhooks-panel"), $("#webhook-notice")).load();
  }
  await shelf.load().catch((error) => toast(describe(error), { kind: "warn" }));
  desk.refresh();
  giveaways.refresh();
  shelf.setPinned(live.pinned ? live.pinned.product.id : null);
  stats.currency = shelf.products[0]?.currency || "USD";
  socket.start();
  stats.start();
}

main();
