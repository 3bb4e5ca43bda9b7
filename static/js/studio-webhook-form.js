// Studio (creator only; studio-webhooks.js): add a webhook endpoint — its URL and events
// (all ticked at first) → POST /api/webhooks; the server's 422 `fields` under the URL or the
// events. The answer's signing secret is shown once, right then, in a read-only field to
// copy: it is never in the page again (not after Done, not after a reload).

import { api, describe } from "./api.js";
import { $, busy, formError, h, replace } from "./dom.js";
import { clearFieldErrors, fieldMessage, showFieldErrors } from "./field-errors.js";

/** The server's URL rule is a pattern: say it in words; keep any other reason as it is. */
function urlMessage(message) {
  return /pattern/i.test(message) ? "Must be a full http:// or https:// URL, like https://shop.example/livecart" : message;
}

export class WebhookForm {
  /** form: #webhook-form; secretBox: where the secret shows; added(): reload the list. */
  constructor(form, secretBox, { added }) {
    this.form = form;
    this.secretBox = secretBox;
    this.added = added;
    form.addEventListener("submit", (event) => this.add(event));
    form.addEventListener("change", () => form.querySelector("[name=events]:checked") && this.clearEventsError());
  }

  async add(event) {
    event.preventDefault();
    formError(this.form, null);
    clearFieldErrors(this.form);
    this.hideSecret();
    const url = this.form.elements.url.value.trim();
    const events = [...this.form.querySelectorAll("[name=events]:checked")].map((box) => box.value);
    if (!events.length) {
      this.eventsError("Choose at least one event");
      return;
    }
    try {
      const { webhook } = await busy(this.form, () => api("/api/webhooks", { method: "POST", body: { url, events } }));
      this.form.reset();
      this.showSecret(webhook); // first: nothing after this may lose it
      await this.added();
    } catch (error) {
      if (!error.fields) {
        formError(this.form, describe(error));
        return;
      }
      const fields = {};
      let eventsMessage = null;
      for (const [name, message] of Object.entries(error.fields)) {
        if (name.startsWith("events")) eventsMessage = message;
        else fields[name] = name === "url" ? urlMessage(message) : message;
      }
      const rest = showFieldErrors(this.form, fields);
      if (eventsMessage) this.eventsError(eventsMessage, { focus: !Object.keys(fields).length });
      if (rest.length) formError(this.form, rest.join("; "));
    }
  }

  /** An error about the events, under their checkboxes. */
  eventsError(message, { focus = true } = {}) {
    const set = $("#webhook-events", this.form);
    this.clearEventsError();
    set.append(h("p", { class: "field-error", id: "webhook-events-error" }, fieldMessage(message)));
    set.setAttribute("aria-describedby", "webhook-events-error");
    set.setAttribute("aria-invalid", "true");
    if (focus) set.querySelector("input").focus();
  }

  clearEventsError() {
    const set = $("#webhook-events", this.form);
    $("#webhook-events-error", set)?.remove();
    set.removeAttribute("aria-describedby");
    set.removeAttribute("aria-invalid");
  }

  /** The signing secret, once: in a read-only field to copy, gone with Done or a reload. */
  showSecret(webhook) {
    const input = h("textarea", {
      id: "webhook-secret-value",
      class: "webhook-secret-value",
      readonly: true,
      rows: 2,
      spellcheck: "false",
      autocapitalize: "none",
      "aria-describedby": "webhook-secret-once",
      on: { focus: (event) => event.currentTarget.select() },
    }, webhook.secret);
    const copied = h("p", { class: "form-ok", role: "status" });
    replace(
      this.secretBox,
      h("h3", { class: "flush", id: "webhook-secret-title" }, "Endpoint added: copy its signing secret"),
      h("p", { class: "webhook-secret-once", id: "webhook-secret-once" },
        "Shown only now. Put it in your receiver to check each delivery's Livecart-Signature: livecart never shows it again, not even after a reload."),
      h("p", { class: "small flush webhook-secret-for" }, "For ", h("strong", {}, webhook.url)),
      h("div", { class: "field" }, h("label", { for: input.id }, "Signing secret"), input),
      h(
        "div",
        { class: "row" },
        h("button", { type: "button", class: "btn", id: "webhook-secret-copy", on: { click: () => this.copy(input, copied) } }, "Copy"),
        h("button", { type: "button", class: "btn btn-primary", id: "webhook-secret-done", on: { click: () => this.hideSecret(webhook) } }, "Done, I have saved it"),
      ),
      copied,
    );
    this.secretBox.setAttribute("role", "region");
    this.secretBox.setAttribute("aria-labelledby", "webhook-secret-title");
    this.secretBox.hidden = false;
    input.focus();
  }

  async copy(input, status) {
    try {
      await navigator.clipboard.writeText(input.value);
      status.textContent = "Copied.";
    } catch {
      input.focus();
      input.select(); // no clipboard API (an http page, a refused permission): the old way
      status.textContent = document.execCommand("copy") ? "Copied." : "Selected: press Ctrl+C (⌘C on a Mac) to copy it.";
    }
  }

  hideSecret(webhook = null) {
    const shown = !this.secretBox.hidden;
    replace(this.secretBox);
    this.secretBox.hidden = true;
    if (webhook && shown) $(`#webhook-${webhook.id}-deliveries`)?.focus();
  }
}
