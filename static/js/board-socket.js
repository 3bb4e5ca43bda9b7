// The staff board's live feed, /ws/fulfillment (docs/protocol.md): an `order` frame for
// every order placed or changed, `resync` when the server may have missed some.
// Signs in like the live socket (subprotocols `livecart` + `livecart.token.<TOKEN>`).
// The server answers pings only once the socket is signed in and subscribed, so the
// first `pong` after opening says "ready": read the board over REST from then on.

import { SESSION_EVENT, currentSession, socketUrl } from "./api.js";
import { backoffDelay, socketProtocols } from "./socket.js";

const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 45000; // no frame at all for this long: the link is dead

export class BoardSocket {
  /**
   * handlers: onReady() once signed in and subscribed (read the board then), onOrder(order),
   * onResync(), onStatus(status, detail) with status one of "connecting" | "live" |
   * "reconnecting" ({delay, code}) | "offline" | "unauthorized" (4401) | "forbidden" (4403).
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.ws = null;
    this.token = null;
    this.attempt = 0;
    this.stopped = false;
    this.timer = null;
    this.pinger = null;
    this.heardAt = 0;
    this.ready = false;
    addEventListener("offline", () => this.lostNetwork());
    addEventListener("online", () => this.reconnectNow());
    // A password change here saves a new token and revokes the old one (4401): use it.
    addEventListener(SESSION_EVENT, () => this.adoptToken());
    addEventListener("storage", () => this.adoptToken());
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
    this.drop();
  }

  connect() {
    clearTimeout(this.timer);
    this.token = currentSession().token;
    this.status(this.attempt ? "reconnecting" : "connecting", { attempt: this.attempt });
    const ws = new WebSocket(socketUrl("/ws/fulfillment"), socketProtocols(this.token));
    this.ws = ws;
    this.ready = false;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.heardAt = Date.now();
      this.send({ type: "ping" }); // answered once the server has signed us in
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.keepalive(), PING_EVERY_MS);
    };
    ws.onmessage = (msg) => ws === this.ws && this.receive(msg.data);
    ws.onclose = (ev) => ws === this.ws && this.closed(ev.code);
  }

  send(frame) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    this.heardAt = Date.now();
    if (frame.type === "order" && frame.data?.order) this.handlers.onOrder?.(frame.data.order);
    else if (frame.type === "resync") this.handlers.onResync?.();
    else if (frame.type === "pong" && !this.ready) {
      this.ready = true;
      this.attempt = 0;
      this.status("live");
      this.handlers.onReady?.();
    }
    // Anything else: a newer server's frame this page does not know. Ignore it.
  }

  closed(code) {
    this.ws = null;
    this.ready = false;
    clearInterval(this.pinger);
    if (this.stopped) return;
    if (code === 4401) {
      const fresh = currentSession().token;
      if (!fresh || fresh === this.token) {
        this.stopped = true;
        this.status("unauthorized", { code });
        return;
      }
    }
    if (code === 4403) {
      this.stopped = true;
      this.status("forbidden", { code });
      return;
    }
    const delay = backoffDelay(this.attempt, code);
    this.attempt += 1;
    this.status("reconnecting", { attempt: this.attempt, code, delay });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  keepalive() {
    if (Date.now() - this.heardAt > SILENCE_LIMIT_MS) {
      this.drop();
      this.closed(1006);
      return;
    }
    this.send({ type: "ping" });
  }

  adoptToken() {
    const { token } = currentSession();
    if (token && token !== this.token) this.reconnectNow();
  }

  reconnectNow() {
    if (this.stopped) return;
    this.drop();
    this.connect();
  }

  lostNetwork() {
    if (this.stopped) return;
    this.drop();
    this.closed(1006); // keeps retrying with back-off, in case the browser is wrong
    this.status("offline");
  }

  drop() {
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    try {
      ws?.close(4000);
    } catch {
      /* already closed */
    }
  }

  status(status, detail = {}) {
    // Retries go on while the browser is offline, but "offline" is what the person needs to know.
    const shown = status === "reconnecting" && navigator.onLine === false ? "offline" : status;
    this.handlers.onStatus?.(shown, detail);
  }
}
