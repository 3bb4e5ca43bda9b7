// Studio: a product's units per warehouse ("Stock by warehouse", for its creator). Every
// warehouse (GET /api/warehouses, read once) with the units on its shelves (on_hand) and
// those promised to orders (allocated), and a Save per warehouse that sets its on_hand
// (PUT /api/products/{id}/inventory/{code}). The product's stock is what they can still
// sell together: on_hand − allocated, summed. The server has the last word (409
// below_allocated): its refusals show next to the warehouse's field. Each read or save
// fires a "restocked" event (bubbling, detail {product_id, stock}) from the editor.

import { api, describe } from "./api.js";
import { h } from "./dom.js";

// Stock frames come fast during a sale: an open editor reads its figures again at most this often.
const REFRESH_MS = 1000;
const MAX_UNITS = 1_000_000_000;

export class InventoryEditor {
  /** onStock({product_id, stock}): the product's stock, as a save or a read found it. */
  constructor({ onStock }) {
    this.onStock = onStock;
    this.views = new Map(); // product id → its toggle and editor (kept across the shelf's redraws)
    this.warehouses = null; // the promise of GET /api/warehouses, read once
  }

  /** The "Stock by warehouse" button of a product's row. */
  toggle(product) {
    return this.view(product).toggle;
  }

  /** The editor under the product's row (hidden until opened). */
  box(product) {
    return this.view(product).box;
  }

  /** The product's stock moved (a stock frame): an open editor reads its figures again soon. */
  changed(productId) {
    const view = this.views.get(productId);
    if (!view?.open || view.timer) return;
    view.timer = setTimeout(() => {
      view.timer = null;
      if (view.open) this.load(view);
    }, REFRESH_MS);
  }

  view(product) {
    let view = this.views.get(product.id);
    if (view) return view;
    const id = `inventory-${product.id}`;
    const name = `Stock by warehouse of ${product.title}`;
    view = { product, open: false, loading: false, again: false, timer: null, rows: new Map() };
    view.toggle = h("button", {
      type: "button",
      class: "btn btn-small inventory-toggle",
      dataset: { focusKey: `${id}-toggle` },
      "aria-expanded": "false",
      "aria-controls": id,
      "aria-label": name,
      on: { click: () => this.setOpen(view, !view.open) },
    }, "Stock by warehouse");
    view.list = h("ul", { class: "plain-list inventory-lines" });
    view.problem = h("p", { class: "form-error", role: "alert", hidden: true });
    view.retry = h("button", {
      type: "button",
      class: "btn btn-small",
      hidden: true,
      dataset: { focusKey: `${id}-retry` },
      on: { click: () => this.load(view) },
    }, "Try again");
    view.note = h("p", { class: "muted small flush", role: "status" });
    view.box = h(
      "div",
      { class: "inventory-box", id, role: "region", "aria-label": name, hidden: true },
      h("p", { class: "muted small flush" }, "Units on the shelves at each warehouse. Units promised to orders stay there until the orders ship."),
      view.list,
      view.problem,
      view.retry,
      view.note,
    );
    this.views.set(product.id, view);
    return view;
  }

  /** Open (reading the figures afresh: what is typed and not saved is dropped) or close. */
  setOpen(view, open) {
    view.open = open;
    view.toggle.setAttribute("aria-expanded", String(open));
    view.box.hidden = !open;
    if (!open) return;
    view.note.textContent = "";
    for (const row of view.rows.values()) {
      setError(row, null);
      row.saved = null; // not typed in: the figures read next fill it
    }
    this.load(view);
  }

  listWarehouses() {
    this.warehouses ??= api("/api/warehouses").then(
      ({ warehouses }) => warehouses,
      (error) => {
        this.warehouses = null; // read again next time
        throw error;
      },
    );
    return this.warehouses;
  }

  /** GET the product's figures (once at a time: a call meanwhile reads again after). */
  async load(view) {
    if (view.loading) {
      view.again = true;
      return;
    }
    view.loading = true;
    view.box.setAttribute("aria-busy", "true");
    if (!view.rows.size) view.note.textContent = "Loading…";
    try {
      const [warehouses, answer] = await Promise.all([
        this.listWarehouses(),
        api(`/api/products/${view.product.id}/inventory`),
      ]);
      view.problem.hidden = view.retry.hidden = true;
      if (!view.rows.size) view.note.textContent = "";
      this.show(view, answer, warehouses);
    } catch (error) {
      view.note.textContent = "";
      view.problem.textContent = sentence(`The stock by warehouse could not be read: ${describe(error)}`);
      view.problem.hidden = view.retry.hidden = false;
    } finally {
      view.loading = false;
      view.box.removeAttribute("aria-busy");
    }
    if (view.again) {
      view.again = false;
      this.load(view);
    }
  }

  /** An inventory answer: every warehouse's figures (0/0 where it holds none) and the stock. */
  show(view, { stock, inventory }, warehouses) {
    const lines = new Map(inventory.map((line) => [line.warehouse, line]));
    const codes = warehouses.map((w) => w.code);
    for (const line of inventory) if (!codes.includes(line.warehouse)) codes.push(line.warehouse);
    for (const code of codes) {
      const row = view.rows.get(code) || this.addRow(view, code, warehouses.find((w) => w.code === code));
      fill(row, lines.get(code) || { on_hand: 0, allocated: 0 });
    }
    const figures = { product_id: view.product.id, stock };
    this.onStock(figures);
    // For the rest of the studio (the desks' prize lists say what is in stock).
    view.box.dispatchEvent(new CustomEvent("restocked", { bubbles: true, detail: figures }));
  }

  addRow(view, code, warehouse) {
    const id = `inventory-${view.product.id}-${code}`;
    const input = h("input", {
      id,
      type: "number",
      inputmode: "numeric",
      min: 0,
      max: MAX_UNITS,
      step: 1,
      required: true,
      dataset: { focusKey: id },
      "aria-describedby": `${id}-figures`,
    });
    const button = h("button", {
      type: "submit",
      class: "btn btn-small",
      dataset: { focusKey: `${id}-save` },
      "aria-label": `Save ${code}`,
    }, "Save");
    const row = {
      code,
      input,
      button,
      saved: null, // the on_hand shown last: the field differs from it once typed in
      allocated: 0,
      figures: h("p", { class: "muted small flush inventory-figures", id: `${id}-figures` }),
      error: h("p", { class: "field-error", id: `${id}-error`, role: "alert", hidden: true }),
    };
    row.form = h(
      "form",
      { class: "inventory-form", novalidate: true, dataset: { warehouse: code } },
      h(
        "div",
        { class: "inventory-where" },
        h("strong", {}, code),
        warehouse && h("span", { class: "muted small" }, `${warehouse.name} · ${warehouse.country}`),
      ),
      h(
        "div",
        { class: "inventory-edit" },
        h("label", { for: id }, "On hand", h("span", { class: "visually-hidden" }, ` at ${code}`)),
        input,
        button,
      ),
      row.figures,
      row.error,
    );
    row.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save(view, row);
    });
    input.addEventListener("input", () => setError(row, null));
    view.list.append(h("li", {}, row.form));
    view.rows.set(code, row);
    return row;
  }

  /** PUT the warehouse's on_hand; the answer's figures and stock show everywhere. */
  async save(view, row) {
    if (row.saving) return;
    const text = row.input.value.trim();
    if (!/^\d+$/.test(text) || Number(text) > MAX_UNITS) {
      setError(row, "Enter a whole number of units, 0 or more.");
      row.input.focus();
      return;
    }
    const units = Number(text);
    const hadFocus = row.form.contains(document.activeElement);
    setError(row, null);
    row.saving = true;
    row.button.disabled = true;
    row.input.readOnly = true;
    row.form.setAttribute("aria-busy", "true");
    view.note.textContent = `Saving ${row.code}…`;
    let failed = false;
    try {
      const code = encodeURIComponent(row.code);
      const answer = await api(`/api/products/${view.product.id}/inventory/${code}`, {
        method: "PUT",
        body: { on_hand: units },
      });
      row.saved = null; // saved: the answer's figure replaces what was typed
      this.show(view, answer, await this.listWarehouses());
      view.note.textContent = `Saved: ${row.input.value} on hand at ${row.code}.`;
    } catch (error) {
      failed = true;
      view.note.textContent = "";
      setError(row, sentence(describe(error)));
      if (error.status === 409) this.load(view); // the figures moved meanwhile: show them
    } finally {
      row.saving = false;
      row.button.disabled = false;
      row.input.readOnly = false;
      row.form.removeAttribute("aria-busy");
    }
    // A disabled button loses the focus: give it back (to the field, to correct it).
    if (hadFocus && !row.form.contains(document.activeElement)) (failed ? row.input : row.button).focus();
  }
}

/** Show a warehouse's figures; a field typed in (not saved) keeps what was typed. */
function fill(row, { on_hand, allocated }) {
  const typed = row.saved !== null && row.input.value.trim() !== String(row.saved);
  if (!typed) row.input.value = String(on_hand);
  row.saved = on_hand;
  row.allocated = allocated;
  row.input.min = String(allocated);
  row.figures.textContent = `${allocated} promised to orders · ${on_hand - allocated} left to sell`;
}

function setError(row, message) {
  row.error.textContent = message || "";
  row.error.hidden = !message;
  const ids = [row.figures.id, message && row.error.id].filter(Boolean);
  row.input.setAttribute("aria-describedby", ids.join(" "));
  if (message) row.input.setAttribute("aria-invalid", "true");
  else row.input.removeAttribute("aria-invalid");
}

/** "orders … than that" → "Orders … than that." */
function sentence(text) {
  const s = String(text).trim();
  const capital = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?…)]$/.test(capital) ? capital : `${capital}.`;
}
