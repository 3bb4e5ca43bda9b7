// The viewer's own orders: a short list, and a toast on every status change
// (from the POST answer and from private `order` frames, whichever comes first).

import { h, label, money, replace, toast } from "./dom.js";
import { productTitle } from "./products.js";

const GOOD = new Set(["accepted", "shipped", "delivered", "refunded"]);
// A pin's event time and an order's creation time come from different moments of the same
// server's clock: an order this close before the pinned event may still be the deal's.
const SLACK_MS = 5000;

export class OrderTracker {
  constructor(section, list) {
    this.section = section;
    this.list = list;
    this.orders = new Map();
    this.watchers = new Set();
    this.seeded = false;
  }

  /** Call fn() whenever an order is added or changes; returns an unwatch. */
  watch(fn) {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /**
   * Units this buyer has bought at `deal`'s price through live `liveId` (the server counts
   * them against the deal's per-buyer limit, cancelled ones too). Orders are this deal's when
   * their unit price is the deal price and they were placed before it ends, and after `since`
   * (the pin's time, when known); never more than the deal has sold.
   */
  dealUnits(liveId, productId, deal, since = null) {
    const ends = Date.parse(deal.ends_at);
    let units = 0;
    for (const order of this.orders.values()) {
      if (String(order.live_id) !== String(liveId) || String(order.product_id) !== String(productId)) continue;
      if (order.unit_price_cents !== deal.price_cents) continue;
      const at = Date.parse(order.created_at);
      if (at > ends || (since !== null && at < since - SLACK_MS)) continue;
      units += order.quantity;
    }
    return Math.min(units, Math.max(0, deal.quantity - deal.remaining));
  }

  /** Orders loaded with the page: listed, no toasts. */
  seed(orders) {
    for (const order of orders) this.orders.set(order.id, order);
    this.seeded = true;
    this.render();
    for (const fn of this.watchers) fn();
  }

  /** A newer view of an order; older views (shorter history) are ignored. */
  update(order, { quiet = false } = {}) {
    const known = this.orders.get(order.id);
    if (known && (known.history?.length || 0) > (order.history?.length || 0)) return;
    if (known && known.status === order.status) return;
    this.orders.set(order.id, order);
    this.render();
    if (!quiet) this.announce(order);
    for (const fn of this.watchers) fn();
  }

  async announce(order) {
    const title = await productTitle(order.product_id);
    const tracking =
      order.status === "shipped" && order.tracking
        ? ` with ${order.tracking.carrier} (${order.tracking.tracking_number})`
        : "";
    toast(`Order #${order.id} (${title}): ${label(order.status)}${tracking}`, {
      kind: order.status === "cancelled" ? "warn" : GOOD.has(order.status) ? "ok" : "info",
      timeout: 8000,
      key: `order-${order.id}`,
    });
  }

  render() {
    const orders = [...this.orders.values()].sort((a, b) => b.id - a.id);
    this.section.hidden = orders.length === 0;
    replace(
      this.list,
      orders.map((order) => {
        const title = h("span", {}, `product #${order.product_id}`);
        productTitle(order.product_id).then((t) => (title.textContent = t));
        return h(
          "li",
          { class: "order-row", dataset: { orderId: order.id, status: order.status } },
          h(
            "span",
            {},
            h("a", { href: `/orders#order-${order.id}` }, `Order #${order.id}`),
            " ",
            title,
            ` × ${order.quantity} · `,
            money(order.total_cents, order.currency),
          ),
          h("span", { class: `badge badge-${order.status}` }, label(order.status)),
        );
      }),
    );
  }
}
