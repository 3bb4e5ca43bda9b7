// The stream player of the viewer page, and the wall-clock time of the picture on screen.
//
// playStream(video, url, {onError}) plays `url` in `video` and returns a player whose
// pictureNow() is the time (ms since the epoch, the encoder's clock) at which the picture now
// on screen was taken, or null when that is not known. Guarantees:
//
// - A number only when the stream says when its pictures were taken (HLS with
//   EXT-X-PROGRAM-DATE-TIME) and a picture of it has been shown: before the first frame has
//   played (autoplay refused, still loading), for MP4/WebM and for HLS without
//   PROGRAM-DATE-TIME it is null.
// - It follows the picture: it advances while the video plays, stands still while it is
//   paused or stalled (waiting for data), and jumps with a seek.
// - Once the player is gone (fatal error, destroy(), another stream) it is null for good.
//
// Players: hls.js (vendored, loaded only for an .m3u8 URL) where the browser has Media Source
// Extensions, its `playingDate`; the browser's own HLS where it has no MSE (iOS Safari),
// `video.getStartDate()` + currentTime; anything else is the video's plain `src` (no clock).
// hls.js runs without its worker: the pages' CSP allows no blob: workers.

const HLS_MODULE = "../vendor/hls.js/hls.light.min.mjs";
const HLS_TYPE = "application/vnd.apple.mpegurl";

/** An HLS playlist URL (by its path's extension). */
export function isHls(url) {
  try {
    return new URL(url, location.href).pathname.toLowerCase().endsWith(".m3u8");
  } catch {
    return false;
  }
}

function hasMse() {
  return "MediaSource" in window || "ManagedMediaSource" in window;
}

/** Play `url` in `video`; onError() when it cannot be played. Returns the player. */
export function playStream(video, url, { onError = () => {} } = {}) {
  return new StreamPlayer(video, url, onError);
}

class StreamPlayer {
  constructor(video, url, onError) {
    this.video = video;
    this.onError = onError;
    this.hls = null;
    this.native = false;
    this.gone = false;
    this.shown = false; // a picture of this source has played
    this.offset = null; // picture ms minus currentTime ms, from the last good reading (hls.js)
    video.addEventListener("playing", () => (this.shown = true));
    video.addEventListener("emptied", () => {
      this.shown = false;
      this.offset = null;
    });
    video.addEventListener("timeupdate", () => this.pictureNow()); // keeps data-clock current
    const native = Boolean(video.canPlayType(HLS_TYPE));
    if (!isHls(url)) video.src = url;
    else if (native && !hasMse()) this.playNative(url);
    else this.playHls(url, native);
  }

  playNative(url) {
    this.native = true;
    this.video.src = url;
  }

  async playHls(url, native) {
    let Hls = null;
    try {
      Hls = (await import(HLS_MODULE)).default;
    } catch {
      Hls = null; // the player could not be loaded: let the browser try
    }
    if (this.gone) return;
    if (!Hls?.isSupported()) {
      if (native) this.playNative(url);
      else this.video.src = url; // fails with the video's own error event
      return;
    }
    const hls = new Hls({ enableWorker: false });
    this.hls = hls;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal || this.gone) return;
      this.destroy();
      this.onError();
    });
    hls.loadSource(url);
    hls.attachMedia(this.video);
  }

  /** When the picture on screen was taken (ms since the epoch), or null (see the header). */
  pictureNow() {
    const at = this.gone || !this.shown ? null : this.reading();
    const clock = at === null ? "none" : "picture";
    if (this.video.dataset.clock !== clock) this.video.dataset.clock = clock; // for tests and devtools
    return at;
  }

  reading() {
    const { video } = this;
    const position = video.currentTime * 1000;
    if (!Number.isFinite(position)) return null;
    if (this.native) {
      const start = video.getStartDate?.().getTime();
      return Number.isFinite(start) ? start + position : null;
    }
    if (!this.hls) return null;
    const date = this.hls.playingDate?.getTime();
    // Between fragments hls.js may briefly not know: the last mapping still holds.
    if (Number.isFinite(date)) this.offset = date - position;
    return this.offset === null ? null : position + this.offset;
  }

  /** Stop playing: the clock is gone (null) from now on. */
  destroy() {
    this.gone = true;
    this.hls?.destroy();
    this.hls = null;
  }
}
