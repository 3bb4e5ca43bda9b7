// Studio: live stats (viewers, peak, orders, revenue) and the sales-over-time
// chart, sampled from GET /api/lives/{id}/stats every few seconds.

import { api } from "./api.js";
import { drawChart } from "./chart.js";
import { $, money } from "./dom.js";

const EVERY_MS = 3000;
const KEEP = 600; // samples: 30 minutes at 3 s

export class LiveStats {
  constructor(liveId, { currency = "USD" } = {}) {
    this.liveId = liveId;
    this.currency = currency;
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
}
