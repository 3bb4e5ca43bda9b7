// A 422's `fields` shown under the inputs they name (aria-invalid, aria-describedby kept
// together with the input's own help text), for the show forms (home page, studio).

import { h } from "./dom.js";

const HELP = "describedbyHelp";

/** The server's words, made a sentence ("Value error, must be…" → "Must be…"). */
export function fieldMessage(message) {
  const text = String(message || "").replace(/^Value error, /, "") || "not valid";
  return text[0].toUpperCase() + text.slice(1);
}

/**
 * Show `fields` ({name: message}) under the form's inputs of those names and focus the first;
 * returns "name: message" for those that name no input (for the form's own error line).
 */
export function showFieldErrors(form, fields) {
  clearFieldErrors(form);
  const rest = [];
  for (const [path, message] of Object.entries(fields || {})) {
    const input = form.elements[path.split(".").pop()];
    if (!(input instanceof HTMLElement) || !input.id) {
      rest.push(`${path.replaceAll("_", " ")}: ${fieldMessage(message)}`);
      continue;
    }
    const note = h("p", { class: "field-error", id: `${input.id}-error` }, fieldMessage(message));
    input.after(note);
    input.dataset[HELP] = input.getAttribute("aria-describedby") || "";
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", `${note.id} ${input.dataset[HELP]}`.trim());
  }
  form.querySelector("[aria-invalid='true']")?.focus();
  return rest;
}

export function clearFieldErrors(form) {
  for (const note of form.querySelectorAll(".field-error")) note.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    const help = input.dataset[HELP];
    if (help) input.setAttribute("aria-describedby", help);
    else input.removeAttribute("aria-describedby");
    delete input.dataset[HELP];
  }
}
