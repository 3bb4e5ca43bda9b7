// Studio (creator only; studio-webhooks.js): one endpoint's latest deliveries — type, event
// id, status, how many attempts and what the last one got — each attempt on demand, and
// Send again (POST .../replay: the same event id and body, a fresh 24 hours of retries).

import { api, describe } from "./api.js";
import { $, h, label, replace, toast } from "./dom.js";
import { showTime } from "./showtime.js";

const LATEST = 20;

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const at = (iso, prefix = "") => h("time", { datetime: iso }, `${prefix}${showTime(iso)}`);

/** What one attempt got: "HTTP 200", "HTTP 503", "No answer: timed out after 10 s". */
export function outcome(attempt) {
  if (attempt.status_code === null || attempt.status_code === undefined) {
    return `No answer: ${attempt.error || "no connection"}`;
  }
  return attempt.error ? `HTTP ${attempt.status_code} (${attempt.error})` : `HTTP ${attempt.status_code}`;
}

export class DeliveryLog {
  /** hook: the endpoint ({id, url, status}); kept up to date by the panel. */
  constructor(hook) {
    this.hook = hook;
    this.loaded = false;
    this.status = h("p", { class: "muted small flush", role: "status" });
    this.list = h("ol", { class: "plain-list deliveries", "aria-label": `Deliveries to ${hook.url}` });
    this.root = h(
      "div",
      { class: "delivery-log", id: `webhook-${hook.id}-log`, hidden: true },
      h(
        "div",
        { class: "delivery-log-head" },
        h("h4", { class: "flush" }, `Latest ${LATEST} deliveries`),
        h("button", {
          type: "button",
          class: "btn btn-small",
          id: `webhook-${hook.id}-refresh`,
          "aria-label": `Refresh deliveries to ${hook.url}`,
          on: { click: () => this.load() },
        }, "Refresh"),
      ),
      this.status,
      this.list,
    );
  }

  get open() {
    return !this.root.hidden;
  }

  toggle(show = !this.open) {
    this.root.hidden = !show;
    if (show) this.load();
  }

  async load() {
    this.root.setAttribute("aria-busy", "true");
    if (!this.loaded) this.status.textContent = "Loading…";
    try {
      const path = `/api/webhooks/${this.hook.id}/deliveries?limit=${LATEST}`;
      this.render((await api(path)).deliveries);
    } catch (error) {
      this.status.textContent = describe(error);
    } finally {
      this.root.setAttribute("aria-busy", "false");
    }
  }

  render(deliveries) {
    const focused = this.root.contains(document.activeElement) ? document.activeElement.id : null;
    const opened = new Set(
      [...this.list.querySelectorAll("details[open]")].map((d) => d.closest("[data-delivery]").dataset.delivery),
    );
    this.loaded = true;
    if (!deliveries.length) this.status.textContent = "No deliveries yet: they show here as your products sell and their stock moves.";
    else this.status.textContent = deliveries.length === 1 ? "1 delivery." : `${deliveries.length} deliveries, newest first.`;
    replace(this.list, deliveries.map((d) => this.item(d, opened.has(String(d.id)))));
    if (focused) document.getElementById(focused)?.focus();
  }

  item(d, expanded) {
    const last = d.attempts[d.attempts.length - 1];
    let when = null;
    if (d.status === "delivered" && d.delivered_at) when = at(d.delivered_at, "delivered ");
    else if (d.status === "pending" && d.next_attempt_at) when = at(d.next_attempt_at, "next try ");
    else if (last) when = at(last.at);
    return h(
      "li",
      { class: `delivery is-${d.status}`, id: `delivery-${d.id}`, dataset: { delivery: d.id } },
      h(
        "div",
        { class: "delivery-head" },
        h("strong", { class: "delivery-type" }, d.type),
        h("span", { class: `badge badge-${d.status}` }, label(d.status)),
      ),
      h("p", { class: "delivery-event flush" }, h("span", { class: "visually-hidden" }, "Event "), h("code", {}, d.event_id)),
      h(
        "p",
        { class: "delivery-last flush" },
        d.attempts.length ? `${plural(d.attempts.length, "attempt")} · last: ${outcome(last)}` : "Not tried yet",
        when && " · ",
        when,
      ),
      d.attempts.length > 0 && this.attempts(d, expanded),
      h("div", { class: "delivery-actions" }, h("button", {
        type: "button",
        class: "btn btn-small",
        id: `delivery-${d.id}-replay`,
        "aria-label": `Send ${d.type} ${d.event_id} again`,
        on: { click: (event) => this.replay(d, event.currentTarget) },
      }, "Send again")),
    );
  }

  attempts(d, expanded) {
    return h(
      "details",
      { class: "delivery-attempts", open: expanded },
      h("summary", { id: `delivery-${d.id}-attempts` }, `Attempts (${d.attempts.length})`),
      h(
        "ol",
        { class: "attempt-list" },
        d.attempts.map((a) =>
          h(
            "li",
            {},
            h("span", {}, at(a.at), ` · ${outcome(a)} · ${a.duration_ms} ms`),
            a.excerpt && h("code", { class: "attempt-excerpt" }, a.excerpt),
          ),
        ),
      ),
    );
  }

  async replay(d, button) {
    button.disabled = true;
    try {
      await api(`/api/webhooks/${this.hook.id}/deliveries/${d.id}/replay`, { method: "POST" });
      const waiting = this.hook.status === "disabled" ? ": it goes out once you resume this endpoint" : "";
      toast(`${d.type} ${d.event_id} is being sent again${waiting}.`, { kind: "ok" });
      await this.load();
    } catch (error) {
      toast(describe(error), { kind: "warn" });
    } finally {
      const again = $(`#delivery-${d.id}-replay`, this.root) || button;
      again.disabled = false;
      again.focus();
    }
  }
}
