// Studio (creator only): who moderates this live; add and remove moderators.

import { api, describe } from "./api.js";
import { $, busy, formError, formValues, h, replace } from "./dom.js";

export class ModeratorPanel {
  constructor(liveId) {
    this.liveId = liveId;
    this.form = $("#mod-form");
    this.form.addEventListener("submit", (event) => this.add(event));
  }

  async load() {
    $("#mods-panel").hidden = false;
    try {
      const { moderators } = await api(`/api/lives/${this.liveId}/moderators`);
      this.render(moderators);
    } catch (error) {
      replace($("#mods"), h("li", {}, describe(error)));
    }
  }

  render(moderators) {
    replace(
      $("#mods"),
      moderators.length ? null : h("li", { class: "muted" }, "No moderators yet."),
      moderators.map((m) =>
        h(
          "li",
          {},
          h("span", {}, m.username),
          h("button", {
            type: "button",
            class: "btn btn-small",
            "aria-label": `Remove ${m.username} as moderator`,
            on: { click: () => this.remove(m.username) },
          }, "Remove"),
        ),
      ),
    );
  }

  async add(event) {
    event.preventDefault();
    const { username } = formValues(this.form);
    formError(this.form, null);
    try {
      const path = `/api/lives/${this.liveId}/moderators/${encodeURIComponent(username)}`;
      const { moderators } = await busy(this.form, () => api(path, { method: "PUT" }));
      this.render(moderators);
      this.form.reset();
    } catch (error) {
      formError(this.form, error.code === "user_not_found" ? "No user with that username." : describe(error));
    }
  }

  async remove(username) {
    try {
      await api(`/api/lives/${this.liveId}/moderators/${encodeURIComponent(username)}`, { method: "DELETE" });
      await this.load();
    } catch (error) {
      formError(this.form, describe(error));
    }
  }
}
