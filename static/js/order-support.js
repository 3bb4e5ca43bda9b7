// Support tickets on a card of /orders (static/js/my-orders.js): the order's tickets with
// their messages (staff replies marked), a reply box and Close on each open one, and "Get help
// with this order" for a new one. Tickets only redraw when they change, so the page's refresh
// never wipes a reply being written. `ctx` is the card's (see order-actions.js).

import { api } from "./api.js";
import { busy, formError, formValues, h, replace } from "./dom.js";
import { plainError, when } from "./order-actions.js";

const TICKET_STATUS = { open: "Waiting for our reply", answered: "Answered", closed: "Closed" };

/** Support: the order's tickets, oldest first, and "Get help with this order". */
export class SupportSection {
  constructor(ctx) {
    this.ctx = ctx;
    this.views = new Map(); // ticket id → TicketView
    const id = (name) => `order-${ctx.id}-${name}`;
    this.list = h("div", { class: "tickets" });
    this.start = h(
      "button",
      {
        type: "button",
        class: "btn",
        "aria-expanded": "false",
        "aria-controls": id("help-form"),
        on: { click: () => this.show(this.form.hidden) },
      },
      "Get help with this order",
    );
    this.text = h("textarea", { id: id("help-text"), name: "text", rows: 4, maxlength: 2000 });
    this.form = h(
      "form",
      { class: "stack help-form", id: id("help-form"), hidden: true, novalidate: true },
      h("div", { class: "field" }, h("label", { for: id("help-text") }, "What do you need help with?"), this.text),
      h(
        "div",
        { class: "row" },
        h("button", { type: "submit", class: "btn btn-primary" }, "Send to our team"),
        h("button", { type: "button", class: "btn", on: { click: () => this.show(false) } }, "Not now"),
      ),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.el = h(
      "div",
      { class: "order-support stack" },
      h("h3", {}, "Help with this order"),
      this.list,
      h("div", { class: "row" }, this.start),
      this.form,
    );
  }

  show(open, { focus = true } = {}) {
    this.form.hidden = !open;
    this.start.setAttribute("aria-expanded", String(open));
    if (!focus) return;
    if (open) this.text.focus();
    else this.start.focus();
  }

  /** This order's tickets as the API has them now; returns how many staff messages are new. */
  update(tickets) {
    let fresh = 0;
    for (const ticket of tickets) fresh += this.upsert(ticket);
    return fresh;
  }

  upsert(ticket) {
    let view = this.views.get(ticket.id);
    if (!view) {
      view = new TicketView(ticket, this);
      this.views.set(ticket.id, view);
      const ids = [...this.views.keys()].sort((a, b) => a - b);
      const next = this.views.get(ids[ids.indexOf(ticket.id) + 1]);
      this.list.insertBefore(view.el, next ? next.el : null);
      return 0;
    }
    return view.update(ticket);
  }

  /** Start a new ticket with this text (a reply that a closed ticket refused). */
  startWith(text) {
    if (!this.text.value.trim()) this.text.value = text;
    this.show(true, { focus: false });
  }

  async submit() {
    const { text } = formValues(this.form);
    formError(this.form, null);
    if (!text) {
      formError(this.form, "Write your question first.");
      this.text.focus();
      return;
    }
    try {
      const { ticket } = await busy(this.form, () =>
        api(`/api/orders/${this.ctx.id}/tickets`, { method: "POST", body: { text } }),
      );
      this.form.reset();
      this.show(false, { focus: false });
      for (const view of this.views.values()) view.alert.hidden = true;
      this.upsert(ticket);
      this.views.get(ticket.id)?.title.focus();
    } catch (error) {
      if (error.status === 401) return this.ctx.signIn();
      formError(this.form, plainError(error));
    }
  }
}

/** One ticket: its status, messages (staff replies marked), a reply box and Close. */
class TicketView {
  constructor(ticket, support) {
    this.support = support;
    this.ctx = support.ctx;
    this.ticket = null;
    const id = (name) => `ticket-${ticket.id}-${name}`;
    this.title = h("h4", { id: id("title"), tabindex: "-1" }, `Conversation #${ticket.id}`);
    this.badge = h("span", { class: "badge" });
    this.messages = h("ol", { class: "messages", "aria-label": `Messages of conversation #${ticket.id}` });
    this.closedNote = h("p", { class: "muted flush", hidden: true }, "This conversation is closed. To ask something else, start a new one.");
    // What became of a reply the closed ticket refused (the reply form has gone by then).
    this.alert = h("p", { class: "form-error", role: "alert", hidden: true });
    this.reply = h("textarea", { id: id("reply"), name: "text", rows: 2, maxlength: 2000 });
    this.closeButton = h(
      "button",
      { type: "button", class: "btn", on: { click: () => this.close() } },
      "Close conversation",
    );
    this.form = h(
      "form",
      { class: "stack reply-form", novalidate: true },
      h("div", { class: "field" }, h("label", { for: id("reply") }, "Your reply"), this.reply),
      h("div", { class: "row" }, h("button", { type: "submit", class: "btn btn-primary" }, "Send reply"), this.closeButton),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.el = h(
      "article",
      { class: "ticket stack", id: `ticket-${ticket.id}`, "aria-labelledby": id("title") },
      h("div", { class: "ticket-head" }, this.title, this.badge),
      this.messages,
      this.closedNote,
      this.alert,
      this.form,
    );
    this.update(ticket);
  }

  /** A newer view of the ticket (an older one — fewer messages, or reopened — is ignored).
   * Returns how many staff messages it added. */
  update(ticket) {
    const known = this.ticket;
    if (known) {
      if (ticket.messages.length < known.messages.length) return 0;
      if (ticket.messages.length === known.messages.length && (known.status === "closed" || ticket.status === known.status)) return 0;
    }
    const before = known ? known.messages.length : ticket.messages.length;
    this.ticket = ticket;
    this.badge.textContent = TICKET_STATUS[ticket.status] || ticket.status;
    this.badge.className = `badge ticket-${ticket.status}`;
    this.el.dataset.status = ticket.status;
    replace(this.messages, ticket.messages.map((m) => this.message(m)));
    const closed = ticket.status === "closed";
    this.closedNote.hidden = !closed;
    if (closed && this.form.contains(document.activeElement)) this.title.focus();
    this.form.hidden = closed;
    return ticket.messages.slice(before).filter((m) => m.staff).length;
  }

  message(m) {
    const mine = !m.staff && m.by === this.ctx.me.username;
    return h(
      "li",
      { class: `message${m.staff ? " is-staff" : ""}` },
      h(
        "p",
        { class: "message-meta" },
        h("span", { class: "message-who" }, mine ? "You" : m.by),
        m.staff && h("span", { class: "badge badge-staff" }, "Staff"),
        " ",
        when(m.at),
      ),
      h("p", { class: "message-text" }, m.text),
    );
  }

  async send() {
    const { text } = formValues(this.form);
    formError(this.form, null);
    if (!text) {
      formError(this.form, "Write your reply first.");
      this.reply.focus();
      return;
    }
    try {
      const { ticket } = await busy(this.form, () =>
        api(`/api/tickets/${this.ticket.id}/messages`, { method: "POST", body: { text } }),
      );
      this.reply.value = "";
      this.update(ticket);
      this.reply.focus();
    } catch (error) {
      if (error.status === 401) return this.ctx.signIn();
      if (error.code === "ticket_closed") {
        // Closed by the team meanwhile: the text moves to a new conversation's form, below.
        this.reply.value = "";
        this.support.startWith(text);
        this.alert.textContent = `${plainError(error)} It is in a new conversation below: send it from there.`;
        this.alert.hidden = false;
        await this.ctx.reloadTickets();
        this.support.text.focus();
        return;
      }
      formError(this.form, plainError(error));
    }
  }

  async close() {
    formError(this.form, null);
    try {
      const { ticket } = await busy(this.form, () =>
        api(`/api/tickets/${this.ticket.id}/close`, { method: "POST" }),
      );
      this.update(ticket);
      this.title.focus();
    } catch (error) {
      if (error.status === 401) return this.ctx.signIn();
      formError(this.form, plainError(error));
    }
  }
}
