// Holds the live's commerce events until the picture on screen reaches them.
//
// A frame arrives a tenth of a second after the server made it; the viewer sees the moment
// it announces 2 to 30 s later (HLS latency). push(frame) applies a frame whose type changes
// what is offered (GATED) once clock() >= frame.ts, in arrival order: while one waits, later
// gated frames queue behind it, never overtaking it. Every other frame (chat, moderation,
// live_started, live_ended) is applied at once. clock() is the picture's wall-clock time (ms)
// or null when unknown: then nothing waits, and whatever waits is applied at once (no
// picture clock, the player failed or was replaced, the picture too far behind). A paused
// picture (clock standing still) keeps frames waiting. `live_ended` first applies everything
// that waits: the stream stops, the picture would never get there. clear() drops what waits
// (a snapshot: the server's whole state as it is now, so it includes those frames).
//
// The queue is looked at every CHECK_MS while something waits, so a frame is applied within
// about CHECK_MS of the picture reaching its ts (background tabs: within a second).

export const GATED = new Set([
  "pinned",
  "unpinned",
  "deal_ended",
  "stock",
  "auction_started",
  "bid",
  "auction_ended",
  "giveaway_started",
  "giveaway_entries",
  "giveaway_ended",
]);

const CHECK_MS = 50;

export class FrameGate {
  /** clock(): the picture's time (ms) or null; apply(frame): show it. */
  constructor({ clock, apply }) {
    this.clock = clock;
    this.apply = apply;
    this.queue = [];
    this.timer = null;
  }

  /** How many frames wait for the picture. */
  get waiting() {
    return this.queue.length;
  }

  push(frame) {
    if (GATED.has(frame.type) && typeof frame.ts === "number") {
      this.queue.push(frame);
      this.check();
      return;
    }
    if (frame.type === "live_ended") this.flush();
    this.apply(frame);
  }

  /** Apply the frames the picture has reached (all of them without a clock). */
  check(now = this.clock()) {
    clearTimeout(this.timer);
    this.timer = null;
    try {
      while (this.queue.length && (now === null || this.queue[0].ts <= now)) this.apply(this.queue.shift());
    } finally {
      if (this.queue.length) this.timer = setTimeout(() => this.check(), CHECK_MS);
    }
  }

  /** Apply everything that waits, now. */
  flush() {
    this.check(null);
  }

  /** Forget everything that waits (a snapshot replaced the state). */
  clear() {
    clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
  }
}
