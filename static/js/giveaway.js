// The giveaway card on the viewer page: the product, a countdown on the server's clock, the
// entries and the Enter button (or the keyword typed in chat), then who won and the seed to
// check the draw. Fed by the snapshot's `giveaway`, `giveaway_started` / `giveaway_entries` /
// `giveaway_ended` and the private `giveaway_entered` reply: no polling while open, so ten
// thousand viewers cost the server nothing more than the events. Whether you are in survives a
// reload through localStorage (the snapshot cannot say it; an Enter answered `already_entered`
// says it too). Entries go over the socket; a refused one gets an `error` frame that does not
// say what it answers, so the card remembers the entries it sent.

import { api } from "./api.js";
import { secondsLeft, setText } from "./auction.js";
import { quantityClaimed } from "./claims.js";
import { duration, h, label, replace, toast } from "./dom.js";

const SETTLE_MS = 2000; // the winner asks a few times whether the prize order went out
const ANSWER_WITHIN_MS = 30000; // an entry unanswered for this long is forgotten
const SENDING_MS = 10000;
// Error codes that only an entry gets; the shared ones (checkout_profile_required...) count
// as the giveaway's when an entry waits for its answer.
const OWN_CODES = new Set(["not_watching", "staff_cannot_enter", "already_entered", "giveaway_closed"]);
const REFUSED = {
  checkout_profile_required: "To enter, save a shipping address and a card first: the prize is free, they are for sending it to you.",
  giveaway_closed: "Too late: the giveaway has closed.",
  not_watching: "You are not connected to the live. Try again in a moment.",
  not_found: "This giveaway is gone.",
};

/** The outcome line of a drawn giveaway, as `me` sees it. */
export function giveawayOutcome(g, me) {
  if (!g.winner) return "No entries — no winner";
  if (me && g.winner.id === me.id) {
    return g.unclaimed ? `You won, but the prize could not be sent: ${label(g.unclaimed)}.` : "You won! Your order is on its way";
  }
  return `🎉 @${g.winner.username} won ${g.product?.title ?? "the giveaway"}`;
}

export const entriesText = (n) => `${n} ${n === 1 ? "entry" : "entries"}`;

/** "Check the draw": the seed hash published at the start and the seed revealed at the draw. */
export function drawFacts(idPrefix) {
  const hex = () => h("code", { class: "giveaway-hex" });
  const facts = { hash: hex(), seed: hex(), count: h("dd", { id: `${idPrefix}-entrants` }) };
  const list = h(
    "dl",
    { class: "giveaway-facts", id: `${idPrefix}-facts` },
    h("dt", {}, "Seed hash (published at the start)"), h("dd", {}, facts.hash),
    h("dt", {}, "Seed (revealed at the draw)"), h("dd", {}, facts.seed),
    h("dt", {}, "Entrants"), facts.count,
  );
  const fill = (g, count = g.entries) => {
    setText(facts.hash, g.seed_hash || "—");
    setText(facts.seed, g.seed || "not revealed yet");
    setText(facts.count, String(count));
  };
  return { list, fill };
}

export class GiveawayCard {
  /**
   * root: the section (hidden while there is nothing to show); serverNow(): the server's clock
   * in ms; socket: the LiveSocket entries go out on; me: the signed-in user or null;
   * watchOnly(): true for the live's host and moderators; onSignIn(reason); onProfile().
   */
  constructor(root, { serverNow, socket, me, watchOnly = () => false, onSignIn, onProfile }) {
    Object.assign(this, { root, serverNow, socket, me, watchOnly, onSignIn, onProfile });
    this.giveaway = null;
    this.parts = null;
    this.pending = []; // entries sent and not answered yet, oldest first: {at, chat}
    this.staff = false; // the server said this user cannot enter
    this.poller = null;
    setInterval(() => this.giveaway?.status === "open" && this.refresh(), 250);
  }

  /** Open, with time left on the server's clock: entries are taken. */
  get open() {
    const g = this.giveaway;
    return Boolean(g) && g.status === "open" && secondsLeft(g.ends_at, this.serverNow()) > 0;
  }

  /** A whole giveaway object (snapshot, event, GET), unless older than what is shown. */
  show(giveaway) {
    const now = this.giveaway;
    if (now && giveaway.id < now.id) return;
    if (now?.id !== giveaway.id) {
      this.giveaway = { ...giveaway };
      if (this.giveaway.entered == null && this.me) this.giveaway.entered = this.remembered(giveaway);
      this.pending = [];
      this.settleTries = 0;
      this.build();
    } else if (now.status === "open" || giveaway.status === "drawn") {
      const entries = Math.max(now.entries, giveaway.entries);
      this.giveaway = { ...now, ...giveaway, entries, entered: giveaway.entered ?? now.entered };
      this.refresh();
    }
    this.schedule();
  }

  /** GET the live's giveaways: show the open one, or the outcome of the one on screen. */
  async load(liveId) {
    try {
      const [newest] = (await api(`/api/lives/${encodeURIComponent(liveId)}/giveaways`)).giveaways;
      if (newest && (newest.status === "open" || newest.id === this.giveaway?.id)) this.show(newest);
    } catch {
      /* the events keep the card right; the next join asks again */
    }
  }

  /** A `giveaway_entries` event: {giveaway_id, entries}, at most one a second. */
  counted({ giveaway_id: id, entries }) {
    const g = this.giveaway;
    if (g?.id !== id) return;
    g.entries = Math.max(g.entries, entries);
    this.refresh();
  }

  /** A `giveaway_ended` event: {giveaway_id, winner, seed, entries}. */
  ended({ giveaway_id: id, winner, seed, entries }) {
    if (this.giveaway?.id !== id) return;
    this.show({ ...this.giveaway, status: "drawn", winner, seed, entries });
    this.pending = [];
  }

  /** The private `giveaway_entered` reply: {giveaway_id, entries}. */
  entered({ giveaway_id: id, entries }) {
    this.pending.shift();
    const g = this.giveaway;
    if (g?.id !== id) return;
    Object.assign(g, { entered: true, entries: Math.max(g.entries, entries) });
    this.remember(g);
    this.refresh();
  }

  /** Keep "you're in" across reloads in this browser. */
  remember(g) {
    try {
      if (this.me) localStorage.setItem(`livecart.entered.${g.id}.${this.me.id}`, "1");
    } catch {
      /* storage full or blocked: Enter answers already_entered instead */
    }
  }

  /** Whether this browser entered `g` as the signed-in user. */
  remembered(g) {
    try {
      return Boolean(this.me) && localStorage.getItem(`livecart.entered.${g.id}.${this.me.id}`) === "1";
    } catch {
      return false;
    }
  }

  /** A chat message went out: remember it when it is the giveaway's keyword. */
  sent(text) {
    const g = this.giveaway;
    if (!g?.keyword || g.status !== "open" || quantityClaimed(text, g.keyword) === null) return false;
    this.pending.push({ at: Date.now(), chat: true });
    return true;
  }

  /** Chat refused a message (chat.js said why): true when it was an entry by keyword. */
  chatRefused() {
    const i = this.fresh().findIndex((entry) => entry.chat);
    if (i >= 0) this.pending.splice(i, 1);
    return i >= 0;
  }

  /** An `error` frame; true when it answered an entry (and was said). */
  error(data) {
    const { code } = data;
    if (!this.fresh().length && !OWN_CODES.has(code)) return false;
    this.pending.shift();
    if (code === "already_entered" && this.giveaway) {
      this.giveaway.entered = true;
      this.remember(this.giveaway);
    }
    else if (code === "staff_cannot_enter") this.staff = true;
    else if (code === "authentication_required") this.onSignIn("Your session expired. Sign in again to enter.");
    else toast(REFUSED[code] || data.message || "You could not enter.", { kind: "warn", timeout: 8000 });
    if (code === "checkout_profile_required") this.onProfile();
    if (code === "staff_cannot_enter" && this.giveaway) this.build();
    else this.refresh();
    return true;
  }

  /** The entries sent within the answer time (the answers of older ones went missing). */
  fresh() {
    return (this.pending = this.pending.filter((entry) => Date.now() - entry.at < ANSWER_WITHIN_MS));
  }

  /** An entry by the button is on its way (the button says so without losing the focus). */
  get sending() {
    return this.pending.some((entry) => !entry.chat && Date.now() - entry.at < SENDING_MS);
  }

  enter() {
    const g = this.giveaway;
    if (!this.me) {
      this.onSignIn("Sign in to enter the giveaway. It takes a few seconds to create an account.");
    } else if (g && this.open && !g.entered && !this.sending) {
      if (this.socket.send({ type: "enter", giveaway_id: g.id })) this.pending.push({ at: Date.now(), chat: false });
      else toast("Not connected. Try again in a moment.", { kind: "warn" });
      this.refresh();
    }
  }

  build() {
    const g = this.giveaway;
    const p = g.product || {};
    const staff = this.staff || this.watchOnly();
    const draw = drawFacts("giveaway");
    const parts = {
      kicker: h("p", { class: "card-kicker" }),
      timer: h("p", { class: "auction-timer", id: "giveaway-timer", role: "timer", "aria-live": "off" }),
      entries: h("p", { class: "auction-meta", id: "giveaway-entries" }),
      enter: staff ? null : h("button", { type: "button", class: "btn btn-primary btn-bid", id: "giveaway-enter", on: { click: () => this.enter() } }),
      keyword: g.keyword ? h("p", { class: "card-claim", id: "giveaway-keyword" }, "or type ", h("strong", { class: "claim-word" }, g.keyword), " in chat") : null,
      note: h("p", { class: "auction-note", id: "giveaway-note", role: "status" }),
      outcome: h("p", { class: "auction-outcome", id: "giveaway-outcome", role: "status" }),
      draw: h("details", { class: "giveaway-draw", id: "giveaway-draw", on: { toggle: () => this.countEntrants() } }, h("summary", {}, "Check the draw"), draw.list),
      fill: draw.fill,
      dismiss: h("button", { type: "button", class: "btn btn-quiet", id: "giveaway-dismiss", on: { click: () => this.clear() } }, "Dismiss"),
    };
    const image = p.image_url
      ? h("img", { class: "card-img", src: p.image_url, alt: "", width: 96, height: 96 })
      : h("div", { class: "card-img card-img-empty", "aria-hidden": "true" });
    const staffNote = staff && h("p", { class: "muted flush", id: "giveaway-staff" }, "Hosts and moderators of this live cannot enter.");
    const title = h("h2", { class: "card-title", id: "giveaway-title" }, p.title || "Giveaway");
    const free = h("p", { class: "giveaway-free" }, "Free giveaway — no purchase necessary");
    const body = h("div", { class: "card-body" }, parts.kicker, title, free, parts.timer, parts.entries);
    const foot = h("div", { class: "auction-foot" }, staffNote, parts.enter, parts.keyword, parts.note, parts.outcome);
    foot.append(h("div", { class: "giveaway-end" }, parts.draw, parts.dismiss));
    replace(this.root, h("article", { class: "card giveaway-card", "aria-labelledby": "giveaway-title" }, image, body, foot));
    this.root.hidden = false;
    this.parts = parts;
    this.refresh();
  }

  refresh() {
    if (!this.parts) return;
    const g = this.giveaway;
    const { kicker, timer, entries, enter, keyword, note, outcome, draw, fill, dismiss } = this.parts;
    const open = this.open;
    const drawn = g.status === "drawn";
    const left = secondsLeft(g.ends_at, this.serverNow());
    this.root.classList.toggle("is-open", open);
    this.root.classList.toggle("is-ended", drawn);
    setText(kicker, drawn ? "Giveaway ended" : open ? "Giveaway" : "Giveaway closing");
    timer.hidden = drawn;
    setText(timer, left > 0 ? `Draw in ${duration(left)}` : "Entries closed. Drawing the winner…");
    setText(entries, drawn ? `Drawn from ${entriesText(g.entries)}` : entriesText(g.entries));
    if (enter) {
      enter.hidden = drawn;
      setText(enter, !this.me ? "Sign in to enter" : g.entered ? "Entered" : open ? "Enter" : "Entries closed");
      enter.disabled = Boolean(this.me) && (Boolean(g.entered) || !open);
      enter.setAttribute("aria-disabled", String(this.sending));
    }
    if (keyword) keyword.hidden = drawn || Boolean(g.entered);
    setText(note, !drawn && g.entered ? "You're in — good luck!" : "");
    setText(outcome, drawn ? giveawayOutcome(g, this.me) : "");
    outcome.classList.toggle("is-unsold", drawn && (!g.winner || (g.winner.id === this.me?.id && Boolean(g.unclaimed))));
    draw.hidden = !drawn;
    dismiss.hidden = !drawn;
    if (!draw.open) fill(g);
  }

  /** Opened "Check the draw": the entrants are listed by the GET once it is drawn. */
  async countEntrants() {
    const g = this.giveaway;
    if (!this.parts?.draw.open) return;
    try {
      const { giveaway, entrants } = await api(`/api/giveaways/${g.id}`);
      if (giveaway.id === this.giveaway?.id) this.parts.fill(giveaway, entrants?.length ?? giveaway.entries);
    } catch {
      /* the count from the event stays */
    }
  }

  /** Drawn: the winner asks a few times more whether the prize order went out (or why not). */
  schedule() {
    const g = this.giveaway;
    clearTimeout(this.poller);
    const settling = g?.winner && g.winner.id === this.me?.id && g.order_id == null && !g.unclaimed;
    if (g?.status === "drawn" && settling && this.settleTries++ < 5) {
      this.poller = setTimeout(() => this.poll(), SETTLE_MS);
    }
  }

  async poll() {
    const { id } = this.giveaway;
    let read = null;
    try {
      read = (await api(`/api/giveaways/${id}`)).giveaway;
    } catch {
      /* try again later */
    }
    if (this.giveaway?.id !== id) return; // dismissed, or another one started meanwhile
    if (read) this.show(read); // which plans the next one
    else this.schedule();
  }

  /** Forget the giveaway (Dismiss: the card is hidden). */
  clear() {
    clearTimeout(this.poller);
    this.giveaway = null;
    this.parts = null;
    replace(this.root);
    this.root.hidden = true;
  }
}
