// The live WebSocket with the resume algorithm of docs/protocol.md:
// remember the last applied seq, reconnect with ?after=SEQ and back-off,
// replace everything on a snapshot, ignore broadcast events already seen.

import { SESSION_EVENT, currentSession, socketUrl } from "./api.js";

/** Close code of a server too busy to take the socket now ("try again later"). */
export const BUSY_CODE = 1013;
// Reconnect delays (ms): the ceiling doubles per failed attempt from `base` up to
// `cap`; the delay is drawn uniformly between base/2 and that ceiling (see backoffDelay).
export const BACKOFF = {
  drop: { base: 500, cap: 10000 }, // ceilings 0.5, 1, 2, 4, 8, 10 s
  busy: { base: 1000, cap: 30000 }, // ceilings 1, 2, 4, 8, 16, 30 s
};

/**
 * The delay (ms) before reconnect attempt `attempt` (0 = the first retry) after
 * a close with `code`: uniform in [base/2, min(cap, base * 2^attempt)], so many
 * viewers dropped at once spread their retries instead of coming back in lockstep.
 * 1013 (server busy) uses the slower `busy` schedule.
 */
export function backoffDelay(attempt, code, random = Math.random) {
  const { base, cap } = code === BUSY_CODE ? BACKOFF.busy : BACKOFF.drop;
  const ceiling = Math.min(cap, base * 2 ** attempt);
  const floor = base / 2;
  return Math.round(floor + random() * (ceiling - floor));
}

/** Offered on every socket; the server picks it (browsers fail a socket whose offer is ignored). */
export const SUBPROTOCOL = "livecart";
/** The token goes in a second offered subprotocol: never in the URL, so never in access logs. */
export const TOKEN_SUBPROTOCOL = "livecart.token.";

/** The subprotocols to offer: ["livecart"] plus the token one when signed in. */
export function socketProtocols(token) {
  return token ? [SUBPROTOCOL, TOKEN_SUBPROTOCOL + token] : [SUBPROTOCOL];
}

const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 45000; // no frame at all for this long: the link is dead
const STOP_CODES = { 4404: "gone" };
// Closes after which the socket carries on anonymously (watching, not chatting or buying).
const ANONYMOUS_CODES = { 4401: "unauthorized", 4403: "banned" };

/**
 * What every livecart socket does: sign in with the stored token (subprotocols), ping every
 * 20 s and drop a link silent for 45 s, reconnect at once when the network comes back or
 * the stored token changes, back off between retries. Subclasses say where to connect
 * (`connect()` calls `open(url)`), what a frame means (`handle(frame)`) and what a close
 * means (`closed(code)`). handlers.onStatus(status, detail) hears every change.
 */
export class KeptSocket {
  constructor(handlers, token = null) {
    this.handlers = handlers;
    this.token = token;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.timer = null;
    this.pinger = null;
    this.lastFrameAt = 0;
    this.signedIn = Boolean(token);
    addEventListener("offline", () => this.lostNetwork());
    addEventListener("online", () => this.reconnectNow());
    // A password change revokes the token this socket signed in with (the server closes
    // it with 4401, maybe before the new token is saved): take the new one up.
    addEventListener(SESSION_EVENT, () => this.adoptToken());
    addEventListener("storage", () => this.adoptToken());
  }

  /** Reconnect with the stored token when it is not the one in use. */
  adoptToken() {
    const { token } = currentSession();
    if (!this.signedIn || !token || token === this.token) return;
    this.token = token;
    this.reconnectNow();
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    this.drop(1000);
  }

  /** Send a client frame; false when not connected. */
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Open the socket to `url`; `opened()` runs once it is open. */
  open(url) {
    clearTimeout(this.timer);
    const ws = new WebSocket(url, socketProtocols(this.token));
    this.ws = ws;
    ws.onmessage = (msg) => ws === this.ws && this.receive(msg.data);
    ws.onclose = (ev) => ws === this.ws && this.closed(ev.code);
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.lastFrameAt = Date.now();
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.keepalive(), PING_EVERY_MS);
      this.opened();
    };
  }

  opened() {}

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    this.lastFrameAt = Date.now();
    this.handle(frame);
  }

  keepalive() {
    if (Date.now() - this.lastFrameAt > SILENCE_LIMIT_MS) {
      this.drop(4000);
      this.closed(1006);
      return;
    }
    this.send({ type: "ping" });
  }

  /** Try again after the back-off for `code`. */
  retry(code) {
    const delay = backoffDelay(this.attempt, code);
    this.attempt += 1;
    this.status("reconnecting", { attempt: this.attempt, code, delay });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped) return;
    this.drop(4000);
    this.connect();
  }

  /** The browser says the network is gone: the socket is as good as dead. */
  lostNetwork() {
    if (this.stopped) return;
    this.drop(4000);
    this.closed(1006); // keeps retrying with back-off, in case the browser is wrong
    this.status("offline");
  }

  drop(code) {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.close(code);
      } catch {
        /* already closed */
      }
    }
  }

  status(status, detail = {}) {
    this.handlers.onStatus?.(status, detail);
  }
}

export class LiveSocket extends KeptSocket {
  /**
   * handlers: onSnapshot(data, frame), onResumed(data, frame) after the missed events of a
   * resume, onEvent(frame) for broadcast events (in seq order, once each), onFrame(frame)
   * for seq-less frames (viewers, order, error, pong, ...), onStatus(status, detail) with status one of
   * "connecting" | "live" | "reconnecting" | "offline" | "gone" | "banned" | "unauthorized".
   * "reconnecting" comes with {attempt, code, delay} when the socket closes (code:
   * the close code, BUSY_CODE when the server is overloaded; delay: ms until the
   * retry) and with {attempt, code} when the retry starts.
   */
  constructor(liveId, { token = null, ...handlers } = {}) {
    super(handlers, token);
    this.liveId = liveId;
    this.lastSeq = null;
    this.lastCode = null; // close code that started the current run of retries
    this.skewMs = 0; // server clock minus ours, from frame timestamps
  }

  /** The server's clock now (ms), from the last frame's ts. */
  serverNow() {
    return Date.now() + this.skewMs;
  }

  connect() {
    if (this.attempt) this.status("reconnecting", { attempt: this.attempt, code: this.lastCode });
    else this.status("connecting", { attempt: 0 });
    const after = this.lastSeq === null ? null : this.lastSeq;
    this.open(socketUrl(`/ws/lives/${encodeURIComponent(this.liveId)}`, { after }));
  }

  handle(frame) {
    if (typeof frame.ts === "number") this.skewMs = frame.ts - Date.now();
    if (frame.type === "snapshot") {
      this.lastSeq = frame.data.seq;
      this.connected();
      this.handlers.onSnapshot?.(frame.data, frame);
      return;
    }
    if (frame.type === "resumed") {
      if (typeof frame.data.to === "number") this.lastSeq = Math.max(this.lastSeq, frame.data.to);
      this.connected();
      this.handlers.onResumed?.(frame.data, frame);
      return;
    }
    if (typeof frame.seq === "number") {
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return; // seen already
      if (this.lastSeq !== null && frame.seq > this.lastSeq + 1) {
        this.drop(4000); // a gap (should not happen): resume from what we have
        this.closed(1006);
        return;
      }
      this.lastSeq = frame.seq;
      this.handlers.onEvent?.(frame);
      return;
    }
    this.handlers.onFrame?.(frame);
  }

  connected() {
    this.attempt = 0;
    this.lastCode = null;
    this.status("live");
  }

  closed(code) {
    this.ws = null;
    clearInterval(this.pinger);
    if (this.stopped) return;
    if (STOP_CODES[code]) {
      this.status(STOP_CODES[code], { code });
      return;
    }
    if (ANONYMOUS_CODES[code] && this.token) {
      // A password change here (or in another tab) revokes the old token and closes
      // this socket with 4401: carry on with the new one rather than anonymously.
      const fresh = code === 4401 ? currentSession().token : null;
      this.token = fresh && fresh !== this.token ? fresh : null;
      if (!this.token) this.status(ANONYMOUS_CODES[code], { code });
    }
    this.lastCode = code;
    this.retry(code);
  }
}
