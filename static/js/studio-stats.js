// Studio: live stats (viewers, peak, orders, revenue) and the sales-over-time
// chart, sampled from GET /api/lives/{id}/stats every few seconds; the orders placed
// from the show's replay page apart ("From the replay: 2 orders, $30.00", per product).

import { api } from "./api.js";
import { drawChart } from "./chart.js";
import { $, h, money, replace } from "./dom.js";
import { productTitle } from "./products.js";

const EVERY_MS = 3000;
const KEEP = 600; // samples: 30 minutes at 3 s

export class LiveStats {
  /** ended(): whether the live has ended (its replay's sales then show even when none). */
  constructor(liveId, { currency = "USD", ended = () => false } = {}) {
    this.liveId = liveId;
    this.currency = currency;
    this.ended = ended;
    this.replayShown = null;
    this.samples = [];
    this.timer = null;
  }

  start() {
    const run = async () => {
      if (!document.hidden) await this.sample();
      this.timer = setTimeout(run, EVERY_MS);
    };
    run();
  }

  setViewers(count) {
    $("#stat-viewers").textContent = String(count);
  }

  async sample() {
    let stats;
    try {
      stats = await api(`/api/lives/${this.liveId}/stats`);
    } catch {
      return; // a missed sample; the next one catches up
    }
    $("#stat-viewers").textContent = String(stats.viewers);
    $("#stat-peak").textContent = String(stats.peak_viewers);
    $("#stat-orders").textContent = String(stats.orders);
    $("#stat-units").textContent = `${stats.units} units`;
    $("#stat-revenue").textContent = money(stats.revenue_cents, this.currency);
    this.showReplay(stats.replay);
    this.samples.push({ t: Date.now(), v: stats.revenue_cents });
    if (this.samples.length > KEEP) this.samples.shift();
    const fmt = (cents) => money(cents, this.currency).replace(/[.,]00$/, "");
    drawChart($("#sales-chart"), this.samples, {
      format: fmt,
      title: "Revenue over time",
      floor: 1000,
      summary: `Revenue is ${fmt(stats.revenue_cents)} from ${stats.orders} orders.`,
    });
  }

  /** "From the replay: 2 orders, $30.00" and a line per product (titles read once, cached). */
  async showReplay(replay) {
    const box = $("#replay-sales");
    if (!replay || (!replay.orders && !this.ended())) {
      box.hidden = true;
      return;
    }
    const key = JSON.stringify(replay);
    if (key === this.replayShown && !box.hidden) return;
    this.replayShown = key;
    const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
    const summary = replay.orders
      ? `${count(replay.orders, "order", "orders")}, ${money(replay.revenue_cents, this.currency)}`
      : "no orders yet";
    const rows = await Promise.all(
      (replay.products || []).map(async (p) =>
        h(
          "li",
          {},
          h("span", { class: "replay-product" }, await productTitle(p.product_id)),
          h(
            "span",
            { class: "replay-figures" },
            `${count(p.orders, "order", "orders")} · ${count(p.units, "unit", "units")} · ${money(p.revenue_cents, this.currency)}`,
          ),
        ),
      ),
    );
    if (key !== this.replayShown) return; // a newer sample got here first
    replace($("#replay-summary"), h("strong", {}, "From the replay:"), ` ${summary}`);
    replace($("#replay-products"), rows);
    $("#replay-products").hidden = rows.length === 0;
    box.hidden = false;
  }
}
