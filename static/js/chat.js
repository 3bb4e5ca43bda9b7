// Chat over the live socket. Message text and usernames are set with
// textContent only: "<b>hi</b>" shows as those eleven characters.
//
// Moderators (the studio; the viewer page once it knows the user moderates this live)
// get Delete and Mute on other people's messages. A deleted message leaves them a
// "message deleted" line with its author and a Mute button, so deleting a spammer's
// last message never takes away the way to mute them. Everyone else sees it vanish.

import { api, describe } from "./api.js";
import { duration, h, replace, toast } from "./dom.js";

const MAX_SHOWN = 200;
const MAX_LENGTH = 500;
const MUTE_S = 300;
const CHAT_ERRORS = new Set([
  "sign_in_required", "muted", "slow_mode", "rate_limited", "banned", "blocked_word",
  "invalid_text", "unsupported",
]);

export class Chat {
  /**
   * root: an element holding .chat-log, .chat-note and form.chat-form.
   * moderator: show Delete / Mute on other people's messages (see setModerator).
   * A successful Mute dispatches "moderated" ({detail: {username}}) on root.
   * onSent(text) after a message went out (the viewer page watches for comment-to-buy claims).
   */
  constructor(root, { socket, user, moderator = false, creatorId = null, onSignIn = null, onSent = null }) {
    this.root = root;
    this.onSent = onSent;
    this.socket = socket;
    this.user = user;
    this.moderator = moderator;
    this.creatorId = creatorId;
    this.log = root.querySelector(".chat-log");
    this.note = root.querySelector(".chat-note");
    this.form = root.querySelector(".chat-form");
    this.input = this.form.querySelector("input");
    this.lastSent = "";
    this.slowSeconds = 0;
    this.input.maxLength = MAX_LENGTH;
    if (!user) {
      replace(
        this.form,
        h("button", { type: "button", class: "btn", on: { click: () => onSignIn?.() } }, "Sign in to chat"),
      );
    } else {
      this.form.addEventListener("submit", (event) => this.submit(event));
    }
  }

  submit(event) {
    event.preventDefault();
    const text = this.input.value.trim();
    if (!text) return;
    if (!this.socket.send({ type: "chat", text })) {
      this.setNote("Not connected. Your message was not sent; try again in a moment.");
      return;
    }
    this.lastSent = text;
    this.input.value = "";
    this.onSent?.(text);
  }

  /** The snapshot's recent_chat (oldest first) replaces the log. */
  reset(messages = []) {
    replace(this.log, messages.map((m) => this.item(m)));
    this.scroll(true);
  }

  add(message) {
    if (this.log.querySelector(`[data-id="${CSS.escape(String(message.id))}"]`)) return;
    const stick = this.nearBottom();
    this.log.append(this.item(message));
    while (this.log.children.length > MAX_SHOWN) this.log.firstElementChild.remove();
    this.scroll(stick);
  }

  /** A `chat_deleted` message: gone, or for moderators a "message deleted" line. */
  remove(id) {
    const li = this.log.querySelector(`.chat-msg[data-id="${CSS.escape(String(id))}"]`);
    if (!li) return;
    if (!this.moderator) {
      li.remove();
      return;
    }
    const { uid, user: who } = li.dataset;
    const gone = h(
      "li",
      { class: "chat-gone", dataset: { id, uid, user: who } },
      h("span", { class: "chat-user" }, who),
      " ",
      h("span", { class: "chat-text" }, "message deleted"),
    );
    li.replaceWith(gone);
    this.decorate(gone);
  }

  /** Turn the moderator tools on or off, on the lines already shown too. */
  setModerator(on) {
    this.moderator = Boolean(on);
    for (const li of this.log.children) {
      li.querySelector(".chat-actions")?.remove();
      this.decorate(li);
    }
  }

  setSlowMode(seconds) {
    this.slowSeconds = seconds || 0;
    this.setNote(this.slowSeconds ? `Slow mode: one message every ${this.slowSeconds} s.` : "");
    this.root.dispatchEvent(new CustomEvent("slowmode", { detail: this.slowSeconds }));
  }

  setNote(text) {
    this.note.textContent = text;
    this.note.hidden = !text;
  }

  /** An `error` frame; true if it was about chat. */
  error(data) {
    if (!CHAT_ERRORS.has(data.code)) return false;
    const wait = data.retry_after ? ` Try again in ${duration(Math.ceil(data.retry_after))}.` : "";
    const messages = {
      sign_in_required: "Sign in to chat.",
      muted: `You are muted.${wait}`,
      slow_mode: `Slow mode is on.${wait}`,
      rate_limited: `You are sending too fast.${wait}`,
      banned: "You can no longer chat in this live.",
      blocked_word: "That message contains a blocked word.",
      invalid_text: "Messages are 1 to 500 characters.",
      unsupported: "Chat is not available on this server yet.",
    };
    this.setNote(messages[data.code] || data.message);
    if (this.lastSent && !this.input.value && data.code !== "banned") this.input.value = this.lastSent;
    return true;
  }

  item(message) {
    const who = message.user?.username || "someone";
    const li = h(
      "li",
      { class: "chat-msg", dataset: { id: message.id, uid: message.user?.id ?? "", user: who } },
      h("span", { class: "chat-user" }, who),
      this.isHost(message.user?.id ?? "") && h("span", { class: "badge badge-host" }, "host"),
      " ",
      h("span", { class: "chat-text" }, message.text),
    );
    this.decorate(li);
    return li;
  }

  isHost(uid) {
    return this.creatorId !== null && uid !== "" && String(uid) === String(this.creatorId);
  }

  /** Moderation buttons on someone else's line (the host cannot be muted). */
  decorate(li) {
    const { id, uid, user: who } = li.dataset;
    if (!this.moderator || !uid || String(uid) === String(this.user?.id) || this.isHost(uid)) return;
    const deleted = li.classList.contains("chat-gone");
    li.append(
      h(
        "span",
        { class: "chat-actions" },
        !deleted && h("button", {
          type: "button",
          class: "btn btn-small",
          "aria-label": `Delete message from ${who}`,
          on: { click: () => this.act({ type: "delete_chat", id: Number(id) }, "Message deleted") },
        }, "Delete"),
        h("button", {
          type: "button",
          class: "btn btn-small",
          "aria-label": deleted ? `Mute ${who} (message deleted) for 5 minutes` : `Mute ${who} for 5 minutes`,
          on: { click: (event) => this.mute(who, event.currentTarget) },
        }, "Mute"),
      ),
    );
  }

  act(frame, done) {
    if (this.socket.send(frame)) toast(done);
    else toast("Not connected; try again in a moment.", { kind: "warn" });
  }

  /** Mute over REST: the answer says whether it worked (and why not, in the server's words). */
  async mute(username, button) {
    button.disabled = true;
    try {
      const path = `/api/lives/${encodeURIComponent(this.socket.liveId)}/mutes/${encodeURIComponent(username)}`;
      await api(path, { method: "PUT", body: { duration_s: MUTE_S } });
      toast(`${username} is muted for 5 minutes`, { kind: "ok" });
      this.root.dispatchEvent(new CustomEvent("moderated", { detail: { username } }));
    } catch (error) {
      toast(describe(error), { kind: "warn" });
    } finally {
      button.disabled = false;
    }
  }

  nearBottom() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 60;
  }

  scroll(stick) {
    if (stick) this.log.scrollTop = this.log.scrollHeight;
  }
}
