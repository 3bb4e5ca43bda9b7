// /orders: the buyer's own orders, newest first, one card each — the product, quantity, total,
// how it was bought, its status, a timeline of its history (when, who, why), the tracking
// number, the ship-by date and a late hint; cancel and return (order-actions.js) and support
// tickets (order-support.js).
//
// Staying current: a buyer's private `order` and `ticket` frames only arrive on a live's
// socket, which this page does not open. It reads GET /api/orders and GET /api/tickets again
// when the tab becomes visible, every 20 s while it is visible, and on Refresh — two small
// reads of one buyer's data. Cards are updated in place, so forms and focus survive.

import { api } from "./api.js";
import { mountHeader, openSignIn } from "./auth.js";
import { $, clock, h, label, money, replace, toast } from "./dom.js";
import { getProduct } from "./products.js";
import { CANCELLABLE, CancelControl, ReturnSection, STATUS, plainError, when } from "./order-actions.js";
import { SupportSection } from "./order-support.js";

const POLL_MS = 20000;
const STEP = 50; // orders per page: "Show older orders" reads 50 more
const MAX_ORDERS = 200; // the API's largest page
const PLACEHOLDER = "/static/img/poster.svg";
const SOURCE = {
  direct: "Bought from the shop",
  live: "Bought in a live",
  auction: "Won at an auction",
  comment: "Bought by comment in a live",
  waitlist: "From the waitlist",
  giveaway: "Giveaway prize",
  replay: "Bought from a replay",
};
const PAYMENT = {
  authorized: "Your card is charged when it ships.",
  captured: "Paid.",
  voided: "Not charged: the payment was released.",
  refunded: "Refunded to your card.",
};
const GOOD = new Set(["accepted", "shipped", "delivered", "refunded"]);

let user = mountHeader();
const cards = new Map(); // order id → OrderCard
const linked = new Set(); // ids from #order-N links: read one by one when older than the list
let limit = STEP;
let loaded = false;
let timer = null;
let running = null;

/** "you", "livecart" (the fulfillment queue), or the staff member's username. */
function who(by) {
  if (by === user?.username) return "you";
  if (by === "fulfillment") return "livecart";
  if (by === "simulator") return "livecart (simulated)";
  return by;
}

class OrderCard {
  constructor(order) {
    this.id = order.id;
    this.data = null;
    this.product = null;
    const ctx = {
      id: order.id,
      me: user,
      order: () => this.data,
      title: () => this.product?.title || `Product #${this.data.product_id}`,
      apply: (fresh) => this.update(fresh),
      reloadOrder: () => reloadOrder(this.id),
      reloadTickets: () => reloadTickets(this.id),
      signIn: signInAgain,
      focusCard: () => this.heading.focus(),
    };
    const id = (name) => `order-${order.id}-${name}`;
    this.titleText = h("span", { class: "order-title" }, `Product #${order.product_id}`);
    this.heading = h("h2", { id: id("title"), tabindex: "-1" }, h("span", { class: "order-no" }, `Order #${order.id}`), " ", this.titleText);
    this.image = h("img", { class: "order-img", src: PLACEHOLDER, alt: "", width: 72, height: 72 });
    this.badge = h("span", { class: "badge" });
    this.facts = h("div", { class: "order-facts" });
    this.tracking = h("div", { class: "order-tracking" });
    this.timeline = h("ol", { class: "timeline" });
    this.cancel = new CancelControl(ctx);
    this.returns = new ReturnSection(ctx);
    this.support = new SupportSection(ctx);
    this.el = h(
      "li",
      { class: "my-order", id: `order-${order.id}`, dataset: { orderId: order.id } },
      h(
        "article",
        { class: "order-card-body", "aria-labelledby": id("title") },
        h(
          "div",
          { class: "order-primary stack" },
          h("div", { class: "order-top" }, this.image, h("div", { class: "order-main" }, this.heading, h("p", { class: "flush" }, this.badge), this.facts)),
          this.tracking,
          this.cancel.el,
        ),
        h("div", { class: "order-timeline" }, h("h3", {}, "Timeline"), this.timeline),
        this.returns.el,
        this.support.el,
      ),
    );
    getProduct(order.product_id)
      .then((product) => {
        this.product = product;
        this.titleText.textContent = product.title;
        if (product.image_url) this.image.src = product.image_url;
      })
      .catch(() => {}); // the card keeps "Product #N"
    this.update(order);
  }

  /** A newer view of the order (an older one, with a shorter history, is ignored). Returns
   * whether its status changed. */
  update(order) {
    const known = this.data;
    if (known && known.history.length > order.history.length) return false;
    const json = JSON.stringify(order);
    if (json === this.json) return false;
    this.json = json;
    this.data = order;
    this.el.dataset.status = order.status;
    this.badge.textContent = STATUS[order.status] || label(order.status);
    this.badge.className = `badge badge-${order.status}`;
    this.showFacts(order);
    this.showTracking(order);
    replace(
      this.timeline,
      order.history.map((step, i) =>
        h(
          "li",
          { class: i === order.history.length - 1 ? "is-current" : null },
          h("span", { class: "step-status" }, STATUS[step.status] || label(step.status)),
          h("span", { class: "step-when" }, when(step.at), ` · by ${who(step.by)}`),
          step.note && h("span", { class: "step-note" }, `Note: ${step.note}`),
        ),
      ),
    );
    this.cancel.update(order);
    this.returns.update(order);
    return Boolean(known) && known.status !== order.status;
  }

  showFacts(order) {
    const pending = CANCELLABLE.has(order.status);
    const ship = order.shipping;
    replace(
      this.facts,
      h(
        "p",
        { class: "flush order-price" },
        `${order.quantity} × ${money(order.unit_price_cents, order.currency)} · Total `,
        h("strong", {}, money(order.total_cents, order.currency)),
      ),
      h("p", { class: "flush muted small" }, SOURCE[order.source] || SOURCE.direct, " · ordered ", when(order.created_at)),
      pending && order.ship_by && h("p", { class: "flush small order-ship-by" }, "Ships by ", when(order.ship_by, { time: false, weekday: true })),
      pending && order.late && h("p", { class: "order-late" }, "Running late: it was due to ship by ", when(order.ship_by, { time: false, weekday: true }), ". Sorry for the wait — it is on its way to being packed."),
      PAYMENT[order.payment_status] && h("p", { class: "flush muted small" }, PAYMENT[order.payment_status]),
      ship && h("p", { class: "flush muted small order-address" }, `To ${ship.name}, ${ship.line1}, ${ship.city} ${ship.postal_code}, ${ship.country}`),
    );
  }

  showTracking(order) {
    const t = order.tracking;
    this.tracking.hidden = !t;
    if (!t) return;
    replace(
      this.tracking,
      h("h3", {}, "Tracking"),
      h(
        "dl",
        { class: "tracking" },
        h("dt", {}, "Carrier"),
        h("dd", { class: "tracking-carrier" }, t.carrier),
        h("dt", {}, "Tracking number"),
        h("dd", { class: "tracking-number" }, t.tracking_number),
      ),
      order.shipment_id && h("p", { class: "flush muted small" }, "Sent in one parcel with other orders of yours."),
    );
  }
}

/** Read the orders (and every ticket of this buyer) again and update the cards. */
function refresh({ announce = true } = {}) {
  running ??= load(announce).finally(() => {
    running = null;
    schedule();
  });
  return running;
}

async function load(announce) {
  $("#updated").textContent = "Refreshing…";
  try {
    const [{ orders }, { tickets }] = await Promise.all([
      api(`/api/orders?limit=${limit}`),
      api("/api/tickets?limit=200"),
    ]);
    const older = [...linked].filter((id) => !orders.some((o) => o.id === id));
    const extra = await Promise.all(older.map((id) => api(`/api/orders/${id}`).then((r) => r.order, () => null)));
    show([...orders, ...extra.filter(Boolean)], tickets, announce && loaded);
    loaded = true;
    $("#more-bar").hidden = orders.length < limit || limit >= MAX_ORDERS;
    $("#refresh-error").hidden = true;
    $("#updated").textContent = `Updated ${clock(new Date())}`;
  } catch (error) {
    if (error.status === 401) return signedOut();
    $("#updated").textContent = "";
    $("#refresh-error").textContent = `Your orders could not be read: ${plainError(error)}`;
    $("#refresh-error").hidden = false;
  }
}

function show(orders, tickets, announce) {
  const byOrder = new Map();
  for (const ticket of tickets) {
    if (!byOrder.has(ticket.order_id)) byOrder.set(ticket.order_id, []);
    byOrder.get(ticket.order_id).push(ticket);
  }
  const list = $("#order-list");
  orders.sort((a, b) => b.id - a.id);
  orders.forEach((order, i) => {
    let card = cards.get(order.id);
    if (!card) {
      card = new OrderCard(order);
      cards.set(order.id, card);
    } else if (card.update(order) && announce) {
      toast(`Order #${order.id} (${card.titleText.textContent}): ${STATUS[order.status] || label(order.status)}`, {
        kind: order.status === "cancelled" ? "warn" : GOOD.has(order.status) ? "ok" : "info",
        key: `order-${order.id}`,
      });
    }
    const replies = card.support.update(byOrder.get(order.id) || []);
    if (replies && announce) {
      toast(`New reply from our team about order #${order.id}.`, { kind: "ok", key: `ticket-${order.id}` });
    }
    // Only a new card is inserted: the others keep their place (and any focus inside them).
    if (list.children[i] !== card.el) list.insertBefore(card.el, list.children[i] || null);
  });
  const status = $("#orders-status");
  status.hidden = orders.length > 0;
  if (!orders.length) replace(status, "You have no orders yet. ", h("a", { href: "/" }, "Find something in a live"), ".");
}

async function reloadOrder(id) {
  try {
    const { order } = await api(`/api/orders/${id}`);
    cards.get(id)?.update(order);
    return order;
  } catch {
    return null;
  }
}

async function reloadTickets(id) {
  try {
    const { tickets } = await api(`/api/tickets?order_id=${id}&limit=200`);
    cards.get(id)?.support.update(tickets);
  } catch {
    /* the next refresh shows them */
  }
}

function schedule() {
  clearTimeout(timer);
  if (user && document.visibilityState === "visible") timer = setTimeout(refresh, POLL_MS);
}

function signInAgain() {
  openSignIn({ reason: "Your session has ended. Sign in again to see your orders.", onSignedIn: () => location.reload() });
}

function signedOut() {
  user = mountHeader();
  clearTimeout(timer);
  cards.clear();
  replace($("#order-list"));
  for (const id of ["#refresh-bar", "#more-bar", "#orders-status", "#refresh-error", "#link-note"]) $(id).hidden = true;
  $("#signed-out").hidden = false;
}

/** #order-N: scroll to that order and highlight it (read on its own if older than the list). */
async function goToLinked() {
  const match = /^#order-(\d+)$/.exec(location.hash);
  const note = $("#link-note");
  note.hidden = true;
  if (!match || !user) return;
  const id = Number(match[1]);
  if (!cards.has(id)) {
    linked.add(id);
    await running; // a read already under way may have started without it
    await refresh({ announce: false });
  }
  const card = cards.get(id);
  if (!card) {
    linked.delete(id);
    note.textContent = `Order #${id} is not one of your orders.`;
    note.hidden = false;
    return;
  }
  for (const other of cards.values()) other.el.classList.toggle("is-target", other === card);
  const smooth = !matchMedia("(prefers-reduced-motion: reduce)").matches;
  card.el.scrollIntoView({ block: "start", behavior: smooth ? "smooth" : "auto" });
  card.heading.focus({ preventScroll: true });
}

if (user) {
  $("#refresh-bar").hidden = false;
  $("#refresh-button").addEventListener("click", () => refresh());
  $("#more-button").addEventListener("click", async () => {
    const before = cards.size;
    limit = Math.min(limit + STEP, MAX_ORDERS);
    await running;
    await refresh({ announce: false });
    const ids = [...cards.keys()].sort((a, b) => b - a);
    cards.get(ids[before])?.heading.focus();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
    else clearTimeout(timer);
  });
  addEventListener("hashchange", goToLinked);
  refresh().then(goToLinked);
} else {
  signedOut();
}
$("#orders-sign-in").addEventListener("click", () =>
  openSignIn({ reason: "Sign in to see your orders.", onSignedIn: () => location.reload() }),
);
