// The board's modal dialogs: ship (carrier + tracking number), a confirmation that
// needs a reason (cancel, refund), and receiving a return (its condition). Each is a
// <dialog> opened with showModal (Escape closes it); focus goes to its first field and
// comes back to the button that opened it, or to `returnFocus()` when that one has gone
// (the drawer redrew itself after the order moved).

import { field } from "./auth.js";
import { busy, formError, formValues, h } from "./dom.js";

const CARRIERS = ["UPS", "USPS", "FedEx", "DHL", "La Poste", "Royal Mail", "Canada Post"];

/**
 * A form in a modal dialog. onSubmit(values) runs with the form disabled and returns an
 * error sentence to show (the dialog stays) or null (the dialog closes).
 */
export function formDialog({ id, title, intro = null, fields, submitLabel, backLabel = "Back",
                             danger = false, onSubmit, returnFocus = null }) {
  const opener = document.activeElement;
  const form = h(
    "form",
    { class: "stack" },
    fields,
    h(
      "div",
      { class: "row dialog-actions" },
      h("button", { type: "submit", class: `btn ${danger ? "btn-danger-solid" : "btn-primary"}` }, submitLabel),
      h("button", { type: "button", class: "btn", on: { click: () => dialog.close() } }, backLabel),
    ),
  );
  const dialog = h(
    "dialog",
    { class: "dialog board-dialog", id, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title),
    intro,
    form,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError(form, null);
    const values = formValues(form); // before busy(): disabled fields are not in FormData
    const problem = await busy(form, () => onSubmit(values));
    if (problem) {
      formError(form, problem);
      form.querySelector("input:not([type=radio]), textarea, input")?.focus();
    } else {
      dialog.close();
    }
  });
  dialog.addEventListener("close", () => {
    dialog.remove();
    const target = opener?.isConnected && !opener.disabled ? opener : returnFocus?.();
    target?.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  form.querySelector("input, textarea, select")?.focus();
  return dialog;
}

/** Carrier and tracking number; onShip({carrier, tracking_number}) → error or null. */
export function shipDialog({ title, intro = null, submitLabel = "Mark shipped", onShip, returnFocus }) {
  return formDialog({
    id: "ship-dialog",
    title,
    intro,
    fields: [
      field("ship-carrier", "Carrier", {
        name: "carrier", required: true, list: "ship-carriers", maxlength: 64, autocomplete: "off",
      }),
      h("datalist", { id: "ship-carriers" }, CARRIERS.map((c) => h("option", { value: c }))),
      field("ship-tracking", "Tracking number", {
        name: "tracking_number", required: true, maxlength: 64, autocomplete: "off", spellcheck: "false",
      }),
    ],
    submitLabel,
    onSubmit: ({ carrier, tracking_number }) =>
      carrier && tracking_number
        ? onShip({ carrier, tracking_number })
        : "Give both the carrier and the tracking number.",
    returnFocus,
  });
}

/** A destructive step: says what happens, asks why (required), onConfirm(note) → error or null. */
export function reasonDialog({ id, title, consequence, reasonLabel, confirmLabel, backLabel,
                               onConfirm, returnFocus }) {
  return formDialog({
    id,
    title,
    intro: h("p", { class: "board-warning" }, consequence),
    fields: [
      field(`${id}-reason`, reasonLabel, { tag: "textarea", name: "note", required: true, maxlength: 500, rows: 3 }),
      h("p", { class: "muted small flush" }, "Kept in the order's history with your name."),
    ],
    submitLabel: confirmLabel,
    backLabel,
    danger: true,
    onSubmit: ({ note }) => (note ? onConfirm(note) : "Give a reason: it is kept in the order's history."),
    returnFocus,
  });
}

/** Receiving a return: the condition it came back in (required), an optional note. */
export function receiveDialog({ title, onReceive, returnFocus }) {
  const option = (value, text, hint) =>
    h(
      "label",
      { class: "radio board-choice", for: `condition-${value}` },
      h("input", { type: "radio", id: `condition-${value}`, name: "condition", value, required: true }),
      h("span", {}, h("strong", {}, text), h("span", { class: "muted" }, ` — ${hint}`)),
    );
  return formDialog({
    id: "receive-dialog",
    title,
    fields: [
      h(
        "fieldset",
        { class: "stack" },
        h("legend", {}, "Condition of the returned unit"),
        option("resellable", "Resellable", "goes back to stock (waitlist first)"),
        option("damaged", "Damaged", "not restocked"),
      ),
      field("receive-note", "Note (optional)", { tag: "textarea", name: "note", maxlength: 500, rows: 2 }),
    ],
    submitLabel: "Mark returned",
    onSubmit: ({ condition, note }) =>
      condition ? onReceive({ condition, note: note || undefined }) : "Say which condition it came back in.",
    returnFocus,
  });
}
