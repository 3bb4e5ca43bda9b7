// /replay/{id}: a live's recording, with the card of the product pinned at the playhead
// (from GET /api/lives/{id}/timeline: offsets in ms from the live's start line up with
// currentTime * 1000) and "Shop this show", every moment of the show a tap away. Buying is at
// today's list price (POST /api/orders with source "replay" and the live's id): the show's
// flash deals are history.

import { api, ApiError, pageId } from "./api.js";
import { mountHeader } from "./auth.js";
import { $, h, money, replace } from "./dom.js";
import { OrderTracker } from "./orders.js";
import { loadProfile, openProfile } from "./profile.js";
import { covers, pinAt, ReplayCard, showTime } from "./replay-card.js";
import { buyAtListPrice, resumeShopBuy, thumb } from "./shop.js";

const POSTER = "/static/img/poster.svg";
const HLS = "/static/vendor/hls.js/hls.light.min.mjs";
const KINDS = { auction: "Auction", giveaway: "Giveaway" };
const liveId = pageId();
const base = `/api/lives/${encodeURIComponent(liveId)}`;
const user = mountHeader({ onProfile: () => openProfile() });
const orders = new OrderTracker($("#orders-panel"), $("#orders"));
const card = new ReplayCard($("#replay-card"), { onBuy: buy });
const resuming = resumeShopBuy();

let entries = []; // the timeline: pins, auctions, giveaways, in the order they began
let pins = [];
let products = new Map(); // id → the product as sold now (the show's bag)
let items = []; // "Shop this show": {entry, li, now}, one per timeline entry
const buyButtons = new Map(); // product id → its Buy buttons in the list
let video = null;
let playhead = 0; // ms: where the list last sent the show, when there is no video
let frame = 0;
let nowKey = "";

/** The playhead in ms from the live's start. */
function playheadMs() {
  return video ? Math.round(video.currentTime * 1000) : playhead;
}

/** The card and the list's "Now" follow the playhead; only changes touch the page. */
function sync() {
  const ms = playheadMs();
  const pin = pinAt(pins, ms);
  card.show(pin, pin ? products.get(pin.product.id) || null : null);
  const key = items.map(({ entry }) => (covers(entry, ms) ? "1" : "0")).join("");
  if (key === nowKey) return;
  nowKey = key;
  items.forEach((item, i) => {
    const now = key[i] === "1";
    item.li.classList.toggle("is-now", now);
    item.now.hidden = !now;
    if (now) item.seek.setAttribute("aria-current", "time");
    else item.seek.removeAttribute("aria-current");
  });
}

/** While playing, every frame as well as timeupdate (a few a second): within ~16 ms. */
function follow() {
  cancelAnimationFrame(frame);
  const step = () => {
    sync();
    if (video && !video.paused && !video.ended) frame = requestAnimationFrame(step);
  };
  step();
}

function poster(text) {
  return [
    h("img", { src: POSTER, alt: "", class: "stream-poster" }),
    h("p", { class: "stream-note" }, text),
  ];
}

function mountVideo(url) {
  if (!url) {
    replace($("#stream"), poster("There is no recording of this show yet."));
    return;
  }
  const el = h("video", {
    id: "replay-video",
    controls: true,
    playsInline: true,
    preload: "metadata",
    poster: POSTER,
    "aria-label": "Recording of the show",
  });
  for (const type of ["timeupdate", "seeking", "seeked", "loadedmetadata", "pause", "ended"]) {
    el.addEventListener(type, sync);
  }
  el.addEventListener("play", follow);
  el.addEventListener("error", () => {
    playhead = playheadMs();
    video = null;
    replace($("#stream"), poster("The recording cannot be played here."));
    sync();
  });
  replace($("#stream"), el);
  video = el;
  attach(el, url);
}

/** MP4 and WebM play anywhere; HLS natively (Safari) or through the vendored hls.js. */
async function attach(el, url) {
  if (/\.m3u8($|[?#])/i.test(url) && !el.canPlayType("application/vnd.apple.mpegurl")) {
    try {
      const { default: Hls } = await import(HLS);
      if (Hls.isSupported()) {
        const hls = new Hls();
        hls.loadSource(url);
        hls.attachMedia(el);
        return;
      }
    } catch {
      /* played as a plain source: the error handler says so if it cannot be */
    }
  }
  el.src = url;
}

/** Go to the moment `entry` began (and show its card at once). */
function seekTo(entry) {
  playhead = entry.offset_ms;
  if (video) video.currentTime = entry.offset_ms / 1000;
  sync();
  // On a phone the player and the card are above the list: bring them back into view.
  const box = $("#replay-card").getBoundingClientRect();
  if (box.top < 0 || box.bottom > innerHeight) $(".stage").scrollIntoView({ block: "start" });
}

function renderShop() {
  items = entries.map((entry) => {
    const product = products.get(entry.product.id) || null;
    const p = product || entry.product;
    const kind = KINDS[entry.kind];
    // Seen, not said: the button's aria-current="time" says it.
    const now = h("span", { class: "badge shop-now", hidden: true, "aria-hidden": "true" }, "Now");
    const seek = h(
      "button",
      { type: "button", class: "shop-seek", on: { click: () => seekTo(entry) } },
      thumb(p),
      h(
        "span",
        { class: "shop-what" },
        h("span", { class: "shop-title" }, p.title),
        " ",
        h("span", { class: "shop-meta" }, kind ? `${kind} ` : "", showTime(entry.offset_ms), now),
      ),
    );
    const actions = h("span", { class: "shop-actions" });
    if (product) {
      const button = h(
        "button",
        { type: "button", class: "btn shop-buy", "aria-label": `Buy ${p.title}`, on: { click: () => buy(products.get(p.id)) } },
        "Buy",
      );
      buyButtons.set(p.id, [...(buyButtons.get(p.id) || []), button]);
      actions.append(h("span", { class: "shop-price" }, money(product.price_cents, product.currency)), button);
    }
    const li = h("li", { class: "shop-item", dataset: { productId: p.id, offsetMs: entry.offset_ms } }, seek, actions);
    return { entry, li, seek, now };
  });
  replace($("#shop-list"), items.map((item) => item.li));
  $("#shop").hidden = items.length === 0;
  for (const product of products.values()) restock(product);
}

function restock(product) {
  products.set(product.id, product);
  card.restock(product);
  for (const button of buyButtons.get(product.id) || []) {
    button.disabled = product.stock <= 0;
    button.textContent = product.stock <= 0 ? "Sold out" : "Buy";
  }
}

function buy(product) {
  if (!product) return;
  buyAtListPrice(product, {
    liveId,
    orders,
    source: "replay",
    onOrder: (order) => {
      orders.update(order);
      refresh(product.id);
    },
  });
}

/** The product's stock after an order (this page has no socket). */
async function refresh(id) {
  try {
    restock((await api(`/api/products/${encodeURIComponent(id)}`)).product);
  } catch {
    /* the next order says if none are left */
  }
}

function note(text) {
  const el = $("#replay-note");
  el.textContent = text;
  el.hidden = !text;
}

function showLive(live, timeline) {
  document.title = `Replay: ${live.title} — livecart`;
  $("#live-title").textContent = live.title;
  const link = $("#live-link");
  link.href = `/live/${encodeURIComponent(liveId)}`;
  link.textContent = timeline.status === "live" ? "Watch it live" : "Live page";
  if (timeline.started_at) {
    const date = new Date(timeline.started_at).toLocaleDateString(undefined, { dateStyle: "medium" });
    replace($("#replay-date"), h("time", { datetime: timeline.started_at }, date));
  }
  if (timeline.status === "scheduled") note("This show has not started yet: there is nothing to replay.");
  else if (timeline.status === "live") note("This show is still live: reload later for all of it.");
}

async function start() {
  let live, timeline, bag;
  try {
    [{ live }, timeline, { products: bag }] = await Promise.all([api(base), api(`${base}/timeline`), api(`${base}/bag`)]);
  } catch (error) {
    const gone = error instanceof ApiError && error.status === 404;
    $("#live-title").textContent = gone ? "Show not found" : "The replay cannot be loaded";
    note(gone ? "This show does not exist." : "Something went wrong. Reload the page to try again.");
    replace($("#stream"), poster("No replay to show."));
    return;
  }
  products = new Map(bag.map((p) => [p.id, p]));
  entries = timeline.timeline;
  pins = entries.filter((e) => e.kind === "pin");
  showLive(live, timeline);
  mountVideo(timeline.recording_url);
  renderShop();
  sync();
  if (resuming) {
    await ready;
    const product = [...products.values()].find((p) => String(p.id) === resuming);
    if (product) buy(product);
  }
}

async function loadOrders() {
  try {
    const { orders: mine } = await api("/api/orders?limit=50");
    orders.seed(mine.filter((o) => String(o.live_id) === String(liveId) && o.source === "replay"));
  } catch {
    /* the list fills with orders placed here */
  }
}

const ready = user ? Promise.all([loadOrders(), loadProfile()]) : Promise.resolve();
start();
