// Studio: the show's settings — title, stream URL, recording URL and scheduled start — and
// the page header that shows them ("Starts Sat 12 Dec, 18:00 · in 2 days"). The creator
// edits them in the Show settings panel: PATCH /api/lives/{id} with only the fields that
// changed (a cleared URL or start is sent as null); the server's 422 `fields` show under
// their inputs. Everyone in the studio sees the header follow `live_updated` frames.

import { api, describe } from "./api.js";
import { $, busy, formError, formValues, h, replace } from "./dom.js";
import { clearFieldErrors, showFieldErrors } from "./field-errors.js";
import { fromLocalInput, fromNow, showTime, timeZoneName, toLocalInput } from "./showtime.js";

const EDITABLE = ["title", "stream_url", "recording_url", "scheduled_at"];
const REFRESH_MS = 30_000; // "in 5 minutes" keeps up while the studio is open

/** A live's editable fields as the form shows them (strings; the start in local time). */
function formState(live) {
  return {
    title: live.title || "",
    stream_url: live.stream_url || "",
    recording_url: live.recording_url || "",
    scheduled_at: toLocalInput(live.scheduled_at),
  };
}

function input(id, labelText, attrs, help) {
  const helpId = help ? `${id}-help` : null;
  return h(
    "div",
    { class: "field", id: `${id}-field` },
    h("label", { for: id }, labelText),
    h("input", { id, "aria-describedby": helpId, ...attrs }),
    help && h("p", { id: helpId, class: "muted small flush" }, help),
  );
}

export class ShowSettings {
  /** live: the studio's live object (its editable fields and status are kept up to date). */
  constructor(live, { editable = false } = {}) {
    this.live = live;
    this.editable = editable;
    this.form = null;
    this.saved = formState(live); // what the form's fields were filled with
    setInterval(() => document.hidden || this.renderHeader(), REFRESH_MS);
  }

  /** The page's title, the h1 and the start line under it. */
  renderHeader() {
    const live = this.live;
    $("#live-title").textContent = live.title;
    document.title = `Studio: ${live.title} — livecart`;
    const when = $("#show-time");
    if (live.status === "scheduled" && live.scheduled_at) {
      const at = new Date();
      replace(
        when,
        new Date(live.scheduled_at) < at ? "Was due to start " : "Starts ",
        h("time", { datetime: live.scheduled_at }, showTime(live.scheduled_at, at)),
        " ",
        h("span", { class: "when-rel" }, `· ${fromNow(live.scheduled_at, at)}`),
      );
    } else if (live.status === "scheduled") {
      replace(when, "Start time to be announced");
    } else {
      replace(when);
    }
    when.hidden = !when.textContent;
    $("#show-when").hidden = when.hidden && !this.editable;
  }

  /** Build the settings form into its panel (the creator only). */
  mount(panel) {
    const zone = timeZoneName();
    const url = { inputmode: "url", autocomplete: "off", autocapitalize: "none", spellcheck: "false", maxlength: 2048 };
    this.form = h(
      "form",
      { id: "show-form", class: "stack", novalidate: true, "aria-labelledby": "show-title" },
      input("show-title-input", "Title", { name: "title", required: true, maxlength: 200, autocomplete: "off" }),
      input(
        "show-start",
        "Scheduled start",
        { name: "scheduled_at", type: "datetime-local" },
        `In your time zone${zone ? ` (${zone})` : ""}; viewers see it in theirs. Leave it empty while the time is not decided ("Time to be announced").`,
      ),
      h("p", { id: "show-start-note", class: "muted small flush", hidden: true }),
      input(
        "show-stream",
        "Stream URL",
        { name: "stream_url", placeholder: "https://… or /media/…", ...url },
        "What viewers watch live: MP4/WebM, or HLS on Safari. Empty for none.",
      ),
      input(
        "show-recording",
        "Recording URL",
        { name: "recording_url", placeholder: "https://… or /media/…", ...url },
        "The show's video, played on its replay page once it has ended. Empty for none.",
      ),
      h("div", { class: "row" }, h("button", { type: "submit", class: "btn btn-primary", id: "save-show" }, "Save changes")),
      h("p", { id: "show-status", class: "form-ok", role: "status" }),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.form.addEventListener("input", () => ($("#show-status").textContent = ""));
    replace(panel.querySelector("#show-body"), this.form);
    this.fill(formState(this.live), { force: true });
    this.renderStart();
    panel.hidden = false;
    $("#settings-link").hidden = false;
  }

  /**
   * Put `state` in the form. Without `force`, a field the creator has changed and not saved
   * keeps what they typed (a live_updated frame from another tab must not erase it).
   */
  fill(state, { force = false } = {}) {
    if (this.form) {
      for (const name of EDITABLE) {
        const el = this.form.elements[name];
        if (force || el.value === this.saved[name]) el.value = state[name];
      }
    }
    this.saved = state;
  }

  /** The scheduled start can only change while the live is scheduled. */
  renderStart() {
    if (!this.form) return;
    const live = this.live;
    const scheduled = live.status === "scheduled";
    const startInput = this.form.elements.scheduled_at;
    $("#show-start-field").hidden = !scheduled;
    startInput.disabled = !scheduled; // and so left out of the form's values
    const note = $("#show-start-note");
    note.hidden = scheduled;
    if (live.status === "live") {
      replace(note, live.started_at ? `Went live ${showTime(live.started_at)}.` : "The show is live.");
    } else if (live.status === "ended") {
      replace(
        note,
        live.ended_at ? `Ended ${showTime(live.ended_at)}. ` : "The show has ended. ",
        h("a", { href: `/replay/${live.id}` }, "Open its replay page"),
      );
    }
  }

  setStatus(status) {
    this.live.status = status;
    this.renderHeader();
    this.renderStart();
  }

  /** The live as the server says it is now (a live_updated frame, a snapshot, a PATCH). */
  updated(data) {
    if (!data) return;
    for (const name of [...EDITABLE, "status", "started_at", "ended_at"]) {
      if (name in data) this.live[name] = data[name];
    }
    this.fill(formState(this.live));
    this.renderHeader();
    this.renderStart();
  }

  /** The fields that differ from what the form was filled with, as the API takes them. */
  changes() {
    const values = formValues(this.form); // disabled inputs (a start once live) are left out
    const body = {};
    for (const name of EDITABLE) {
      if (!(name in values) || values[name] === this.saved[name]) continue;
      if (name === "title") body.title = values.title;
      else if (name === "scheduled_at") body.scheduled_at = fromLocalInput(values.scheduled_at);
      else body[name] = values[name] || null;
    }
    return body;
  }

  async save() {
    const form = this.form;
    const status = $("#show-status");
    formError(form, null);
    clearFieldErrors(form);
    status.textContent = "";
    const body = this.changes();
    if (body.scheduled_at === undefined && "scheduled_at" in body) {
      showFieldErrors(form, { scheduled_at: "enter a date and a time, or leave it empty" });
      return;
    }
    if (!Object.keys(body).length) {
      status.textContent = "Nothing to save: no setting has changed.";
      return;
    }
    try {
      const { live } = await busy(form, () => api(`/api/lives/${this.live.id}`, { method: "PATCH", body }));
      for (const name of EDITABLE) this.live[name] = live[name];
      this.live.status = live.status;
      this.fill(formState(this.live), { force: true });
      this.renderHeader();
      this.renderStart();
      status.textContent = "Saved.";
    } catch (error) {
      const rest = error.fields ? showFieldErrors(form, error.fields) : [];
      if (!error.fields) formError(form, describe(error));
      else if (rest.length) formError(form, rest.join("; "));
      if (error.code === "invalid_state") this.reload();
    }
  }

  /** Read the live again (its start went by while the form was open). */
  async reload() {
    try {
      this.updated((await api(`/api/lives/${this.live.id}`)).live);
    } catch {
      // the socket's frames catch up
    }
  }
}
