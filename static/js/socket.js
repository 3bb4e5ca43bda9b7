// The live WebSocket with the resume algorithm of docs/protocol.md:
// remember the last applied seq, reconnect with ?after=SEQ and back-off,
// replace everything on a snapshot, ignore broadcast events already seen.

import { socketUrl } from "./api.js";

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];
const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 45000; // no frame at all for this long: the link is dead
const STOP_CODES = { 4404: "gone" };
// Closes after which the socket carries on anonymously (watching, not chatting or buying).
const ANONYMOUS_CODES = { 4401: "unauthorized", 4403: "banned" };

export class LiveSocket {
  /**
   * handlers: onSnapshot(data, frame), onEvent(frame) for broadcast events (in
   * seq order, once each), onFrame(frame) for seq-less frames (viewers, order,
   * error, pong, ...), onStatus(status, detail) with status one of
   * "connecting" | "live" | "reconnecting" | "offline" | "gone" | "banned" | "unauthorized".
   */
  constructor(liveId, { token = null, ...handlers } = {}) {
    this.liveId = liveId;
    this.token = token;
    this.handlers = handlers;
    this.lastSeq = null;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.timer = null;
    this.pinger = null;
    this.lastFrameAt = 0;
    this.skewMs = 0; // server clock minus ours, from frame timestamps
    addEventListener("offline", () => this.lostNetwork());
    addEventListener("online", () => this.reconnectNow());
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

  /** The server's clock now (ms), from the last frame's ts. */
  serverNow() {
    return Date.now() + this.skewMs;
  }

  connect() {
    clearTimeout(this.timer);
    this.status(this.attempt ? "reconnecting" : "connecting", { attempt: this.attempt });
    const after = this.lastSeq === null ? null : this.lastSeq;
    const ws = new WebSocket(
      socketUrl(`/ws/lives/${encodeURIComponent(this.liveId)}`, { token: this.token, after }),
    );
    this.ws = ws;
    ws.onmessage = (msg) => ws === this.ws && this.receive(msg.data);
    ws.onclose = (ev) => ws === this.ws && this.closed(ev.code);
    ws.onopen = () => {
      this.lastFrameAt = Date.now();
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.keepalive(), PING_EVERY_MS);
    };
  }

  keepalive() {
    if (Date.now() - this.lastFrameAt > SILENCE_LIMIT_MS) {
      this.drop(4000);
      this.closed(1006);
      return;
    }
    this.send({ type: "ping" });
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    this.lastFrameAt = Date.now();
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
      this.token = null;
      this.status(ANONYMOUS_CODES[code], { code });
    }
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    const delay = base / 2 + Math.random() * base; // jitter
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
