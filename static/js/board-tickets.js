// The drawer's "Support tickets" section: the order's tickets with their messages
// (GET /api/tickets?order_id=N); staff reply and close them. Tickets have no staff feed,
// so the section reads them when the drawer opens and on "Refresh tickets".

import { api } from "./api.js";
import { field } from "./auth.js";
import { busy, formError, formValues, h, replace } from "./dom.js";
import { ago, dateTime, plainError } from "./board-model.js";

export function ticketsSection(orderId) {
  const list = h("div", { class: "tickets" }, h("p", { class: "muted" }, "Loading support tickets…"));
  const load = async () => {
    try {
      const { tickets } = await api(`/api/tickets?order_id=${orderId}&limit=50`);
      replace(
        list,
        tickets.length ? tickets.map(ticketCard) : h("p", { class: "muted" }, "No support tickets about this order."),
      );
    } catch (error) {
      replace(list, h("p", { class: "form-error", role: "alert" }, `Tickets could not be read. ${plainError(error)}`));
    }
  };
  load();
  return h(
    "section",
    { class: "drawer-section", "aria-labelledby": "drawer-tickets-title" },
    h(
      "div",
      { class: "section-head" },
      h("h3", { id: "drawer-tickets-title" }, "Support tickets"),
      h("button", { type: "button", class: "btn btn-quiet btn-small", on: { click: load } }, "Refresh tickets"),
    ),
    list,
  );
}

function ticketCard(ticket) {
  const card = h("article", { class: "ticket", "aria-labelledby": `ticket-${ticket.id}-title` });
  fill(card, ticket);
  return card;
}

function fill(card, ticket) {
  const name = `Ticket #${ticket.id}`;
  const heading = h(
    "h4",
    { id: `ticket-${ticket.id}-title`, tabindex: "-1" },
    `${name} `,
    h("span", { class: `badge badge-ticket-${ticket.status}` }, ticket.status),
  );
  const messages = h(
    "ol",
    { class: "ticket-messages" },
    ticket.messages.map((m) =>
      h(
        "li",
        { class: m.staff ? "from-staff" : "from-buyer" },
        h(
          "p",
          { class: "ticket-who" },
          h("strong", {}, m.by),
          m.staff ? " (staff) · " : " (buyer) · ",
          h("time", { datetime: m.at }, dateTime(m.at)),
        ),
        h("p", { class: "ticket-text" }, m.text),
      ),
    ),
  );
  const done = async (work, focus) => {
    const { ticket: fresh } = await work();
    fill(card, fresh);
    (focus === "reply" ? card.querySelector("textarea") : card.querySelector("h4"))?.focus();
  };
  let reply = null;
  if (ticket.status !== "closed") {
    reply = h(
      "form",
      { class: "stack ticket-reply" },
      field(`ticket-${ticket.id}-reply`, `Reply to ${name.toLowerCase()}`, {
        tag: "textarea", name: "text", required: true, maxlength: 2000, rows: 2,
      }),
      h(
        "div",
        { class: "row" },
        h("button", { type: "submit", class: "btn btn-small" }, "Send reply"),
        h("button", { type: "button", class: "btn btn-small", on: { click: () => closeTicket() } }, "Close ticket"),
      ),
    );
    const post = (path, body) => api(`/api/tickets/${ticket.id}/${path}`, { method: "POST", body });
    reply.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { text } = formValues(reply);
      formError(reply, text ? null : "Write a reply first.");
      if (!text) return;
      try {
        await busy(reply, () => done(() => post("messages", { text }), "reply"));
      } catch (error) {
        formError(reply, plainError(error, name));
      }
    });
    const closeTicket = async () => {
      formError(reply, null);
      try {
        await busy(reply, () => done(() => post("close"), "heading"));
      } catch (error) {
        formError(reply, plainError(error, name));
      }
    };
  }
  replace(
    card,
    heading,
    h("p", { class: "muted small flush" }, `Opened ${dateTime(ticket.created_at)} · last change ${ago(ticket.updated_at)}`),
    messages,
    reply,
  );
}
