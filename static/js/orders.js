// The viewer's own orders: a short list, and a toast on every status change
// (from the POST answer and from private `order` frames, whichever comes first).

import { h, label, money, replace, toast } from "./dom.js";
import { productTitle } from "./products.js";

const GOOD = new Set(["accepted", "shipped", "delivered", "refunded"]);

export class OrderTracker {
  constructor(section, list) {
    this.section = section;
    this.list = list;
    this.orders = new Map();
  }

  /** Orders loaded with the page: listed, no toasts. */
  seed(orders) {
    for (const order of orders) this.orders.set(order.id, order);
    this.render();
  }

  /** A newer view of an order; older views (shorter history) are ignored. */
  update(order, { quiet = false } = {}) {
    const known = this.orders.get(order.id);
    if (known && (known.history?.length || 0) > (order.history?.length || 0)) return;
    if (known && known.status === order.status) return;
    this.orders.set(order.id, order);
    this.render();
    if (!quiet) this.announce(order);
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
          h("span", {}, `#${order.id} `, title, ` × ${order.quantity} · `, money(order.total_cents, order.currency)),
          h("span", { class: `badge badge-${order.status}` }, label(order.status)),
        );
      }),
    );
  }
}
