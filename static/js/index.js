// "/": the lives on now, sign-in and registration, and a creator's own lives.

import { api, describe } from "./api.js";
import { field, mountHeader, signInForm } from "./auth.js";
import { $, busy, formError, formValues, h, label, money, replace } from "./dom.js";
import { productTitle } from "./products.js";

const POSTER = "/static/img/poster.svg";
const user = mountHeader();

function liveCard(live) {
  const image = live.pinned?.product.image_url || POSTER;
  const mine = user && (user.id === live.creator_id || user.role === "admin");
  return h(
    "li",
    { class: "live-card" },
    h("img", { src: image, alt: "", width: 120, height: 120, loading: "lazy" }),
    h(
      "div",
      { class: "live-card-body" },
      h("h3", {}, h("a", { href: `/live/${live.id}` }, live.title)),
      h(
        "p",
        { class: "muted" },
        live.status === "live" ? `${live.viewers} watching` : label(live.status),
        live.pinned ? ` · now showing ${live.pinned.product.title}` : "",
      ),
      mine && h("a", { href: `/studio/${live.id}`, class: "btn btn-small" }, "Open studio"),
    ),
  );
}

async function loadLives() {
  const status = $("#lives-status");
  try {
    const [now, soon] = await Promise.all([
      api("/api/lives?status=live&limit=50"),
      api("/api/lives?status=scheduled&limit=20"),
    ]);
    replace($("#lives"), now.lives.map(liveCard));
    status.textContent = now.lives.length ? "" : "Nobody is live right now. Check back soon.";
    status.hidden = now.lives.length > 0;
    replace($("#soon-lives"), soon.lives.map(liveCard));
    $("#soon").hidden = soon.lives.length === 0;
  } catch (error) {
    status.hidden = false;
    status.textContent = `Could not load lives: ${describe(error)}`;
  }
}

function creatorPanel() {
  const list = h("ul", { class: "plain-list", id: "my-lives" });
  const form = h(
    "form",
    { class: "stack", "aria-labelledby": "new-live-title" },
    h("h3", { id: "new-live-title" }, "Start a new live"),
    field("live-title", "Title", { name: "title", required: true, maxlength: 200 }),
    field("live-stream", "Stream URL (optional: MP4/WebM, or HLS on Safari)", {
      name: "stream_url",
      type: "url",
      placeholder: "https://…",
    }),
    h("button", { type: "submit", class: "btn btn-primary" }, "Create live"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { title, stream_url } = formValues(form);
    formError(form, null);
    try {
      const body = { title, ...(stream_url ? { stream_url } : {}) };
      const { live } = await busy(form, () => api("/api/lives", { method: "POST", body }));
      location.href = `/studio/${live.id}`;
    } catch (error) {
      formError(form, describe(error));
    }
  });
  api(`/api/lives?creator_id=${user.id}&limit=20`)
    .then(({ lives }) =>
      replace(
        list,
        lives.length ? null : h("li", { class: "muted" }, "No lives yet."),
        lives.map((live) =>
          h(
            "li",
            {},
            h("a", { href: `/studio/${live.id}` }, live.title),
            h("span", { class: `badge badge-${live.status}` }, label(live.status)),
          ),
        ),
      ),
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
