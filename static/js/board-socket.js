// The staff board's live feed, /ws/fulfillment (docs/protocol.md): an `order` frame for
// every order placed or changed, `resync` when the server may have missed some.
// Signs in, pings and reconnects like the live socket (`KeptSocket` in socket.js).
// The server answers pings only once the socket is signed in and subscribed, so the
// first `pong` after opening says "ready": read the board over REST from then on.

import { currentSession, socketUrl } from "./api.js";
import { KeptSocket } from "./socket.js";

export class BoardSocket extends KeptSocket {
  /**
   * handlers: onReady() once signed in and subscribed (read the board then), onOrder(order),
   * onResync(), onStatus(status, detail) with status one of "connecting" | "live" |
   * "reconnecting" ({delay, code}) | "offline" | "unauthorized" (4401) | "forbidden" (4403).
   */
  constructor(handlers) {
    super(handlers);
    this.signedIn = true; // staff only: a new stored token is always taken up
    this.ready = false;
  }

  connect() {
    this.token = currentSession().token;
    this.status(this.attempt ? "reconnecting" : "connecting", { attempt: this.attempt });
    this.ready = false;
    this.open(socketUrl("/ws/fulfillment"));
  }

  opened() {
    this.send({ type: "ping" }); // answered once the server has signed us in
  }

  handle(frame) {
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
    this.retry(code);
  }

  drop(code) {
    this.ready = false;
    super.drop(code);
  }

  status(status, detail = {}) {
    // Retries go on while the browser is offline, but "offline" is what the person needs to know.
    const shown = status === "reconnecting" && navigator.onLine === false ? "offline" : status;
    super.status(shown, detail);
  }
}
