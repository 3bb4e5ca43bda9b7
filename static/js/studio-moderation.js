// Studio (creator and moderators): mute or ban by username, the users muted now and
// banned (each with Unmute / Unban), and the live's blocked words.

import { api, describe } from "./api.js";
import { $, busy, clock, formError, h, replace, toast } from "./dom.js";

const MIN_REFRESH_MS = 1000;

/** "14:05" today, "Sat 14:05" within a week, "Jan 3, 14:05" further away. */
function when(iso) {
  const date = new Date(iso);
  const days = Math.abs(date - Date.now()) / 86_400_000;
  if (date.toDateString() === new Date().toDateString()) return clock(date);
  const opts = days < 6 ? { weekday: "short" } : { month: "short", day: "numeric" };
  return date.toLocaleString([], { ...opts, hour: "2-digit", minute: "2-digit" });
}

/** A typed username as accounts spell it: "@Eve " → "eve" (phones capitalise the first letter). */
const cleanName = (text) => text.trim().replace(/^@/, "").toLowerCase();

/** Blocked words as typed: one per line or separated by commas. */
const splitWords = (text) => text.split(/[\n,]/).map((w) => w.trim()).filter(Boolean);

export class ModerationPanel {
  /** root: #moderation-panel; serverNow: the server's clock (ms), to drop mutes as they end. */
  constructor(root, { liveId, serverNow = () => Date.now() }) {
    this.root = root;
    this.liveId = liveId;
    this.serverNow = serverNow;
    this.timer = null;
    this.form = $("#moderate-form", root);
    this.wordsForm = $("#words-form", root);
    this.form.addEventListener("submit", (event) => this.act(event));
    this.wordsForm.addEventListener("submit", (event) => this.saveWords(event));
    $("#moderation-refresh", root).addEventListener("click", () => this.load());
  }

  path(tail = "") {
    return `/api/lives/${encodeURIComponent(this.liveId)}${tail}`;
  }

  async load() {
    this.root.hidden = false;
    await Promise.all([this.loadLists(), this.loadWords()]);
  }

  async loadLists() {
    try {
      const [{ mutes }, { bans }] = await Promise.all([api(this.path("/mutes")), api(this.path("/bans"))]);
      this.renderMutes(mutes);
      this.renderBans(bans);
    } catch (error) {
      replace($("#muted", this.root), h("li", {}, describe(error)));
      replace($("#banned", this.root), h("li", {}, describe(error)));
    }
  }

  async loadWords() {
    try {
      this.showWords((await api(this.path("/blocked-words"))).blocked_words);
    } catch (error) {
      formError(this.wordsForm, describe(error));
    }
  }

  renderMutes(mutes) {
    clearTimeout(this.timer);
    replace(
      $("#muted", this.root),
      mutes.length ? null : h("li", { class: "muted" }, "Nobody is muted."),
      mutes.map((m) => this.entry(m.user.username, `until ${when(m.until)}`, m.until, "Unmute", "/mutes/")),
    );
    // The soonest mute to end leaves the list when it does (timed on the server's clock).
    if (mutes.length) {
      const wait = Date.parse(mutes[0].until) - this.serverNow();
      this.timer = setTimeout(() => this.loadLists(), Math.max(MIN_REFRESH_MS, wait + 500));
    }
  }

  renderBans(bans) {
    replace(
      $("#banned", this.root),
      bans.length ? null : h("li", { class: "muted" }, "Nobody is banned."),
      bans.map((b) => this.entry(b.user.username, `since ${when(b.at)}`, b.at, "Unban", "/bans/")),
    );
  }

  /** One muted or banned user: name, until / since, and the button that lifts it. */
  entry(username, note, iso, verb, tail) {
    return h(
      "li",
      { dataset: { user: username } },
      h("span", { class: "mod-who" }, h("strong", {}, username), " ", h("time", { class: "muted", datetime: iso }, note)),
      h("button", {
        type: "button",
        class: "btn",
        "aria-label": `${verb} ${username}`,
        on: { click: (event) => this.lift(event.currentTarget, verb, `${tail}${encodeURIComponent(username)}`, username) },
      }, verb),
    );
  }

  /** Mute (for the chosen time) or ban the typed username: the form's two submit buttons. */
  async act(event) {
    event.preventDefault();
    const ban = event.submitter?.value === "ban";
    const username = cleanName(this.form.elements.username.value);
    formError(this.form, null);
    if (!username) return;
    const request = ban ? { method: "PUT" } : { method: "PUT", body: { duration_s: Number(this.form.elements.duration_s.value) } };
    const tail = `/${ban ? "bans" : "mutes"}/${encodeURIComponent(username)}`;
    try {
      await busy(this.form, () => api(this.path(tail), request));
      const choice = this.form.elements.duration_s.selectedOptions[0]?.textContent;
      toast(ban ? `${username} is banned from this live` : `${username} is muted for ${choice}`, { kind: "ok" });
      this.form.elements.username.value = "";
      await this.loadLists();
    } catch (error) {
      formError(this.form, describe(error));
    }
    this.form.elements.username.focus();
  }

  async lift(button, verb, tail, username) {
    button.disabled = true;
    try {
      await api(this.path(tail), { method: "DELETE" });
      toast(`${username} is ${verb === "Unban" ? "unbanned" : "unmuted"}`, { kind: "ok" });
      await this.loadLists();
      $("#moderate-username", this.root).focus(); // the button is gone with its line
    } catch (error) {
      button.disabled = false;
      toast(describe(error), { kind: "warn" });
    }
  }

  showWords(words) {
    this.wordsForm.elements.words.value = words.join("\n");
    const status = $("#words-status", this.root);
    status.textContent = words.length
      ? `${words.length} blocked word${words.length === 1 ? "" : "s"}.`
      : "No blocked words.";
  }

  async saveWords(event) {
    event.preventDefault();
    formError(this.wordsForm, null);
    const words = splitWords(this.wordsForm.elements.words.value);
    try {
      const result = await busy(this.wordsForm, () => api(this.path("/blocked-words"), { method: "PUT", body: { words } }));
      this.showWords(result.blocked_words);
      toast("Blocked words saved", { kind: "ok" });
    } catch (error) {
      formError(this.wordsForm, describe(error));
    }
  }
}
