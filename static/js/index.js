// "/": the lives on now, the upcoming shows (by start time, in the viewer's own time
// zone), the past shows with their replays, sign-in and registration, and a creator's
// own lives.

import { api, describe } from "./api.js";
import { clearFieldErrors, showFieldErrors } from "./field-errors.js";
import { field, mountHeader, signInForm } from "./auth.js";
import { $, busy, formError, formValues, h, label, money, replace } from "./dom.js";
import { productTitle } from "./products.js";
import { fromLocalInput, fromNow, showDay, showTime, timeZoneName } from "./showtime.js";

const POSTER = "/static/img/poster.svg";
const user = mountHeader();

const mine = (live) => user && (user.id === live.creator_id || user.role === "admin");
const studioLink = (live) =>
  mine(live) && h("a", { href: `/studio/${live.id}`, class: "btn btn-small" }, "Open studio");

function cardShell(live, ...body) {
  const image = live.pinned?.product.image_url || POSTER;
  return h(
    "li",
    { class: `live-card live-card-${live.status}`, dataset: { liveId: live.id } },
    h("img", { src: image, alt: "", width: 120, height: 120, loading: "lazy" }),
    h("div", { class: "live-card-body" }, ...body),
  );
}

function liveCard(live) {
  return cardShell(
    live,
    h("h3", {}, h("a", { href: `/live/${live.id}` }, live.title)),
    h(
      "p",
      { class: "muted" },
      live.status === "live" ? `${live.viewers} watching` : label(live.status),
      live.pinned ? ` · now showing ${live.pinned.product.title}` : "",
    ),
    studioLink(live),
  );
}

/** "Sat 12 Dec, 18:00" over "in 2 days", or "Time to be announced". */
function whenLine(live, now) {
  if (!live.scheduled_at) return h("p", { class: "live-when is-tba" }, "Time to be announced");
  return h(
    "p",
    { class: "live-when" },
    h("time", { datetime: live.scheduled_at }, showTime(live.scheduled_at, now)),
    " ", // a line each (CSS); read as one
    h("span", { class: "when-rel" }, fromNow(live.scheduled_at, now)),
  );
}

function upcomingCard(live, now) {
  return cardShell(
    live,
    h("h3", {}, h("a", { href: `/live/${live.id}` }, live.title)),
    whenLine(live, now),
    studioLink(live),
  );
}

function pastCard(live, now) {
  const ended = live.ended_at || live.started_at || live.created_at;
  return cardShell(
    live,
    h("h3", {}, live.title),
    h("p", { class: "muted" }, "Ended ", h("time", { datetime: ended }, showDay(ended, now))),
    h(
      "div",
      { class: "live-card-actions" },
      h(
        "a",
        // Named with the show's title: a list of them must not be "Watch the replay" × N.
        { href: `/replay/${live.id}`, class: "btn btn-small btn-primary", "aria-label": `Watch the replay: ${live.title}` },
        "Watch the replay",
      ),
      studioLink(live),
    ),
  );
}

/** Soonest first; lives without a time last (newest of those first, as listed). */
function byStart(lives) {
  const timed = lives.filter((l) => l.scheduled_at);
  timed.sort((a, b) => new Date(a.scheduled_at) - new Date(b.scheduled_at));
  return [...timed, ...lives.filter((l) => !l.scheduled_at)];
}

const endedAt = (live) => new Date(live.ended_at || live.created_at).getTime();

const rendered = new WeakMap();

/** Replace a list's cards only when they changed (a refresh must not take focus away). */
function show(list, cards) {
  const html = cards.map((c) => c.outerHTML).join("");
  if (rendered.get(list) === html) return;
  rendered.set(list, html);
  replace(list, cards);
}

async function loadLives() {
  const status = $("#lives-status");
  try {
    const [now, soon, past] = await Promise.all([
      api("/api/lives?status=live&limit=50"),
      api("/api/lives?status=scheduled&limit=50"),
      api("/api/lives?status=ended&limit=12"),
    ]);
    const at = new Date();
    show($("#lives"), now.lives.map(liveCard));
    status.textContent = now.lives.length ? "" : "Nobody is live right now. Check back soon.";
    status.hidden = now.lives.length > 0;
    show($("#upcoming-lives"), byStart(soon.lives).map((live) => upcomingCard(live, at)));
    $("#upcoming").hidden = soon.lives.length === 0;
    const ended = [...past.lives].sort((a, b) => endedAt(b) - endedAt(a));
    show($("#past-lives"), ended.map((live) => pastCard(live, at)));
    $("#past").hidden = ended.length === 0;
  } catch (error) {
    status.hidden = false;
    status.textContent = `Could not load lives: ${describe(error)}`;
  }
}

function myLiveRow(live) {
  const when =
    live.status === "scheduled" &&
    h("span", { class: "muted small" }, live.scheduled_at ? showTime(live.scheduled_at) : "Time to be announced");
  return h(
    "li",
    {},
    h("a", { href: `/studio/${live.id}` }, live.title),
    h("span", { class: "my-live-meta" }, when, h("span", { class: `badge badge-${live.status}` }, label(live.status))),
  );
}

function creatorPanel() {
  const list = h("ul", { class: "plain-list", id: "my-lives" });
  const zone = timeZoneName();
  const form = h(
    "form",
    { class: "stack", "aria-labelledby": "new-live-title", novalidate: true },
    h("h3", { id: "new-live-title" }, "Start a new live"),
    field("live-title", "Title", { name: "title", required: true, maxlength: 200 }),
    field("live-stream", "Stream URL (optional: MP4/WebM, or HLS on Safari)", {
      name: "stream_url",
      inputmode: "url",
      autocomplete: "off",
      spellcheck: "false",
      placeholder: "https://…",
    }),
    h(
      "div",
      { class: "field" },
      h("label", { for: "live-start" }, "Scheduled start (optional)"),
      h("input", { id: "live-start", name: "scheduled_at", type: "datetime-local", "aria-describedby": "live-start-help" }),
      h(
        "p",
        { id: "live-start-help", class: "muted small flush" },
        `Your time${zone ? ` (${zone})` : ""}. Viewers see it in theirs. Leave it empty to announce the time later.`,
      ),
    ),
    h("button", { type: "submit", class: "btn btn-primary" }, "Create live"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { title, stream_url, scheduled_at } = formValues(form);
    formError(form, null);
    clearFieldErrors(form);
    const start = fromLocalInput(scheduled_at);
    if (start === undefined) {
      showFieldErrors(form, { scheduled_at: "enter a date and a time" });
      return;
    }
    try {
      const body = { title, ...(stream_url ? { stream_url } : {}), ...(start ? { scheduled_at: start } : {}) };
      const { live } = await busy(form, () => api("/api/lives", { method: "POST", body }));
      location.href = `/studio/${live.id}`;
    } catch (error) {
      const rest = error.fields ? showFieldErrors(form, error.fields) : [];
      if (!error.fields || rest.length) formError(form, error.fields ? rest.join("; ") : describe(error));
    }
  });
  api(`/api/lives?creator_id=${user.id}&limit=20`)
    .then(({ lives }) =>
      replace(list, lives.length ? null : h("li", { class: "muted" }, "No lives yet."), lives.map(myLiveRow)),
    )
    .catch((error) => replace(list, h("li", {}, describe(error))));
  return [h("h3", {}, "Your lives"), list, form];
}

function ordersPanel() {
  const list = h("ul", { class: "plain-list", id: "my-orders" });
  api("/api/orders?limit=10")
    .then(async ({ orders }) => {
      if (!orders.length) return replace(list, h("li", { class: "muted" }, "No orders yet."));
      const rows = await Promise.all(
        orders.map(async (o) =>
          h(
            "li",
            {},
            `#${o.id} · ${await productTitle(o.product_id)} · ${o.quantity} × `,
            money(o.unit_price_cents, o.currency),
            " ",
            h("span", { class: `badge badge-${o.status}` }, label(o.status)),
          ),
        ),
      );
      replace(list, rows);
    })
    .catch((error) => replace(list, h("li", {}, describe(error))));
  return [h("h3", {}, "Your orders"), list];
}

function renderAccount() {
  const body = $("#account-body");
  if (!user) {
    replace(
      body,
      h("p", {}, "Sign in to buy and chat, or create an account (viewer or creator)."),
      signInForm({ idPrefix: "account", onSignedIn: () => location.reload() }),
    );
    return;
  }
  const parts = [h("p", {}, `Signed in as ${user.username} (${user.role}).`)];
  if (user.role === "creator" || user.role === "admin") parts.push(...creatorPanel());
  if (user.role === "staff" || user.role === "admin") {
    parts.push(h("p", {}, h("a", { href: "/fulfillment" }, "Open the fulfillment board")));
  }
  parts.push(...ordersPanel());
  replace(body, parts);
}

renderAccount();
loadLives();
setInterval(() => document.hidden || loadLives(), 10000);
