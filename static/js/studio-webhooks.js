// Studio (the live's creator only, not moderators): the creator's webhook endpoints — URL,
// events, Active or Disabled (since when and why, with Resume), failing since — and their
// deliveries (studio-webhook-deliveries.js); add one (its signing secret shown once, right
// then, never again: studio-webhook-form.js), remove one (confirmed). A disabled endpoint
// is announced at the top of the studio with Resume, so the creator is told.
// API: GET /api/webhooks, DELETE /api/webhooks/{id}, POST /api/webhooks/{id}/enable.

import { api, describe } from "./api.js";
import { $, h, replace, toast } from "./dom.js";
import { showTime } from "./showtime.js";
import { DeliveryLog, outcome } from "./studio-webhook-deliveries.js";
import { WebhookForm } from "./studio-webhook-form.js";

const at = (iso) => h("time", { datetime: iso }, showTime(iso));

export class WebhooksPanel {
  /** root: #webhooks-panel; notice: the studio's #webhook-notice. */
  constructor(root, notice) {
    this.root = root;
    this.notice = notice;
    this.hooks = [];
    this.logs = new Map(); // endpoint id → its DeliveryLog (kept across renders)
    this.problems = new Map(); // endpoint id → its latest delivery's last attempt, when failing
    this.list = $("#webhooks", root);
    this.form = new WebhookForm($("#webhook-form", root), $("#webhook-secret", root), {
      added: () => this.load(),
    });
    $("#webhooks-refresh", root).addEventListener("click", () => this.load());
  }

  async load() {
    this.root.hidden = false;
    const status = $("#webhooks-status", this.root);
    try {
      this.hooks = (await api("/api/webhooks")).webhooks;
      await this.readProblems();
      status.textContent = "";
    } catch (error) {
      status.textContent = describe(error);
    }
    this.render();
    await Promise.all([...this.logs.values()].filter((log) => log.open).map((log) => log.load()));
  }

  /** What the latest delivery of each failing or disabled endpoint got (the "why"). */
  async readProblems() {
    this.problems.clear();
    const failing = this.hooks.filter((w) => w.status === "disabled" || w.failing_since);
    await Promise.all(failing.map(async (w) => {
      try {
        const { deliveries } = await api(`/api/webhooks/${w.id}/deliveries?limit=1`);
        const last = deliveries[0]?.attempts.at(-1);
        if (last) this.problems.set(w.id, last);
      } catch {
        // the line just goes without it
      }
    }));
  }

  render() {
    const focused = this.root.contains(document.activeElement) || this.notice.contains(document.activeElement)
      ? document.activeElement.id
      : null;
    for (const id of this.logs.keys()) if (!this.hooks.some((w) => w.id === id)) this.logs.delete(id);
    replace(
      this.list,
      this.hooks.length ? null : h("li", { class: "muted" }, "No endpoints yet. Add one below."),
      this.hooks.map((w) => this.item(w)),
    );
    this.renderNotice();
    if (focused) document.getElementById(focused)?.focus();
  }

  item(w) {
    const disabled = w.status === "disabled";
    let log = this.logs.get(w.id);
    if (!log) this.logs.set(w.id, (log = new DeliveryLog(w)));
    log.hook = w;
    const problem = this.problems.get(w.id);
    return h(
      "li",
      { class: `webhook${disabled ? " is-disabled" : ""}`, id: `webhook-${w.id}`, tabindex: "-1" },
      h(
        "div",
        { class: "webhook-head" },
        h("h3", { class: "webhook-url flush", id: `webhook-${w.id}-url` }, w.url),
        h("span", { class: `badge badge-${w.status}` }, disabled ? "Disabled" : "Active"),
      ),
      h(
        "dl",
        { class: "webhook-facts" },
        h("dt", {}, "Events"),
        h("dd", {}, w.events.join(", ")),
        disabled && [
          h("dt", {}, "Disabled"),
          h(
            "dd",
            { class: "webhook-why" },
            w.disabled_at ? ["Since ", at(w.disabled_at), ": "] : "",
            "every delivery failed for 24 hours",
            w.failing_since ? [" (failing since ", at(w.failing_since), ")"] : "",
            ". Nothing is sent to it until you resume it.",
          ),
        ],
        !disabled && w.failing_since && [
          h("dt", {}, "Failing since"),
          h("dd", { class: "webhook-failing" }, at(w.failing_since), ": retried; after 24 hours of failures it is disabled."),
        ],
        problem && [h("dt", {}, "Last try"), h("dd", { class: "webhook-problem" }, outcome(problem))],
        h("dt", {}, "Added"),
        h("dd", {}, at(w.created_at)),
      ),
      h(
        "div",
        { class: "row webhook-actions", id: `webhook-${w.id}-actions` },
        disabled && this.resumeButton(w, `webhook-${w.id}-resume`),
        h("button", {
          type: "button",
          class: "btn",
          id: `webhook-${w.id}-deliveries`,
          "aria-expanded": String(log.open),
          "aria-controls": log.root.id,
          "aria-describedby": `webhook-${w.id}-url`,
          on: { click: (event) => {
            log.toggle();
            event.currentTarget.setAttribute("aria-expanded", String(log.open));
          } },
        }, "Deliveries"),
        h("button", {
          type: "button",
          class: "btn btn-danger",
          id: `webhook-${w.id}-remove`,
          "aria-describedby": `webhook-${w.id}-url`,
          on: { click: () => this.confirmRemove(w) },
        }, "Remove"),
      ),
      log.root,
    );
  }

  resumeButton(w, id) {
    return h("button", {
      type: "button",
      class: "btn btn-primary",
      id,
      "aria-label": `Resume ${w.url}`,
      on: { click: (event) => this.resume(w, event.currentTarget) },
    }, "Resume");
  }

  /** "Your webhook https://… was disabled after failing for 24 hours — Resume", per endpoint. */
  renderNotice() {
    const disabled = this.hooks.filter((w) => w.status === "disabled");
    replace(
      this.notice,
      disabled.map((w) =>
        h(
          "p",
          { class: "webhook-alert" },
          h("span", {}, "Your webhook ", h("strong", { class: "webhook-alert-url" }, w.url),
            " was disabled after failing for 24 hours: nothing has been sent to it",
            w.disabled_at ? [" since ", at(w.disabled_at)] : "", ". ", h("a", { href: `#webhook-${w.id}` }, "See why")),
          this.resumeButton(w, `webhook-notice-${w.id}-resume`),
        ),
      ),
    );
    this.notice.hidden = !disabled.length;
  }

  async resume(w, button) {
    button.disabled = true;
    try {
      const { webhook } = await api(`/api/webhooks/${w.id}/enable`, { method: "POST" });
      toast(`${webhook.url} is active again. Send again what it missed from its deliveries.`, { kind: "ok" });
      await this.load();
      $(`#webhook-${w.id}-deliveries`)?.focus();
    } catch (error) {
      button.disabled = false;
      toast(describe(error), { kind: "warn" });
    }
  }

  confirmRemove(w) {
    const actions = $(`#webhook-${w.id}-actions`, this.list);
    replace(
      actions,
      h("span", { class: "webhook-confirm" }, "Remove this endpoint? Nothing more is sent to it."),
      h("button", { type: "button", class: "btn btn-danger", id: `webhook-${w.id}-confirm`, on: { click: () => this.remove(w) } }, "Yes, remove it"),
      h("button", { type: "button", class: "btn", id: `webhook-${w.id}-keep`, on: { click: () => this.keep(w) } }, "Keep it"),
    );
    $(`#webhook-${w.id}-confirm`, actions).focus();
  }

  keep(w) {
    this.render();
    $(`#webhook-${w.id}-remove`, this.list).focus();
  }

  async remove(w) {
    try {
      await api(`/api/webhooks/${w.id}`, { method: "DELETE" });
      toast(`${w.url} removed: nothing more is sent to it.`, { kind: "ok" });
      await this.load();
      $("#webhook-url").focus(); // its buttons are gone with it
    } catch (error) {
      toast(describe(error), { kind: "warn" });
      this.render();
    }
  }
}
