// A shipping address: its fields (buy dialog and checkout profile), its one-line summary,
// and the API's field errors (422 `fields`) shown next to the inputs they name.

import { field } from "./auth.js";
import { h } from "./dom.js";

export const ADDRESS_KEYS = ["name", "line1", "city", "postal_code", "country"];

// Each input: its name, label, autocomplete token and the server's length limit.
const INPUTS = {
  name: ["Full name", "name", 200],
  line1: ["Address", "address-line1", 200],
  city: ["City", "address-level2", 100],
  postal_code: ["Postal code", "postal-code", 20],
};

/** The address fields, ids prefixed with `prefix`, filled from `values`. */
export function addressFields(prefix, values = {}) {
  const input = (name, idName = name) => {
    const [label, autocomplete, maxlength] = INPUTS[name];
    const attrs = { name, autocomplete, required: true, maxlength, value: values[name] || "" };
    return field(`${prefix}-${idName}`, label, attrs);
  };
  const country = field(`${prefix}-country`, "Country (2 letters)", {
    name: "country",
    autocomplete: "country",
    required: true,
    pattern: "[A-Za-z]{2}",
    maxlength: 2,
    value: values.country || "US",
    class: "input-short",
  });
  return [
    input("name"),
    input("line1"),
    input("city"),
    h("div", { class: "row" }, input("postal_code", "postal"), country),
  ];
}

/** The address in a form's values, as the API takes it. */
export function addressFrom(values) {
  return {
    name: values.name,
    line1: values.line1,
    city: values.city,
    postal_code: values.postal_code,
    country: values.country.toUpperCase(),
  };
}

/** Put `address` into the form's address inputs. */
export function fillAddress(form, address) {
  for (const key of ADDRESS_KEYS) {
    const input = form.elements[key];
    if (input && address?.[key] !== undefined) input.value = address[key];
  }
}

/** "Ada Lovelace, 12 St James's Square, London SW1Y 4JH, GB" */
export function addressLine(address) {
  if (!address) return "";
  return `${address.name}, ${address.line1}, ${address.city} ${address.postal_code}, ${address.country}`;
}
