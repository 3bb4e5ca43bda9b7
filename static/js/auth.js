// The shared page header (brand, links, who is signed in) and the sign-in dialog.

import { currentSession, describe, register, signIn, signOut } from "./api.js";
import { busy, formError, formValues, h, replace } from "./dom.js";

let dialog = null;

/** Fill <header id="site-header"> and return the current user (or null). */
export function mountHeader({ onChange = () => location.reload() } = {}) {
  const header = document.getElementById("site-header");
  const { user } = currentSession();
  const links = [h("a", { href: "/", class: "brand" }, "livecart")];
  if (user && (user.role === "staff" || user.role === "admin")) {
    links.push(h("a", { href: "/fulfillment" }, "Fulfillment"));
  }
  const who = user
    ? h(
        "div",
        { class: "who" },
        h("span", { class: "who-name" }, `${user.username} · ${user.role}`),
        h(
          "button",
          {
            type: "button",
            class: "btn btn-quiet",
            on: {
              click: () => {
                signOut();
                onChange(null);
              },
            },
          },
          "Sign out",
        ),
      )
    : h(
        "div",
        { class: "who" },
        h(
          "button",
          {
            type: "button",
            class: "btn btn-quiet",
            id: "sign-in-button",
            on: { click: () => openSignIn({ onSignedIn: onChange }) },
          },
          "Sign in",
        ),
      );
  replace(header, h("nav", { class: "nav", "aria-label": "Main" }, ...links), who);
  return user;
}

/** A sign-in / register form; calls onSignedIn(user) after success. */
export function signInForm({ onSignedIn, idPrefix = "signin", withRegister = true } = {}) {
  const id = (name) => `${idPrefix}-${name}`;
  const form = h(
    "form",
    { class: "stack", "aria-label": "Sign in or register" },
    field(id("username"), "Username", {
      name: "username",
      autocomplete: "username",
      required: true,
      pattern: "[a-z0-9_]{3,32}",
      title: "3 to 32 characters: lower-case letters, digits, _",
    }),
    field(id("password"), "Password", {
      name: "password",
      type: "password",
      autocomplete: "current-password",
      required: true,
      minlength: 8,
    }),
    withRegister &&
      h(
        "fieldset",
        { class: "inline" },
        h("legend", {}, "New account as"),
        radio(id("role-viewer"), "role", "viewer", "Viewer", true),
        radio(id("role-creator"), "role", "creator", "Creator"),
      ),
    h(
      "div",
      { class: "row" },
      h("button", { type: "submit", class: "btn btn-primary", value: "login" }, "Sign in"),
      withRegister &&
        h("button", { type: "submit", class: "btn", value: "register" }, "Create account"),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter?.value || "login";
    const { username, password, role } = formValues(form);
    formError(form, null);
    try {
      const user = await busy(form, () =>
        action === "register"
          ? register(username, password, role || "viewer")
          : signIn(username, password),
      );
      onSignedIn?.(user);
    } catch (error) {
      formError(form, describe(error));
    }
  });
  return form;
}

/** The sign-in form in a modal dialog. */
export function openSignIn({ onSignedIn = () => location.reload(), reason = "" } = {}) {
  dialog?.remove();
  const close = () => dialog.close();
  dialog = h(
    "dialog",
    { class: "dialog", "aria-labelledby": "signin-title" },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: "signin-title" }, "Sign in"),
      h("button", { type: "button", class: "btn btn-quiet", on: { click: close } }, "Close"),
    ),
    reason && h("p", { class: "muted" }, reason),
    signInForm({
      idPrefix: "dialog",
      onSignedIn: (user) => {
        close();
        onSignedIn(user);
      },
    }),
  );
  document.body.append(dialog);
  dialog.showModal();
  dialog.querySelector("input")?.focus();
}

/** A labelled input: <label for> + <input id>. */
export function field(id, text, attrs = {}) {
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, text),
    h(attrs.tag || "input", { id, ...attrs, tag: null }),
  );
}

function radio(id, name, value, text, checked = false) {
  return h(
    "label",
    { class: "radio", for: id },
    h("input", { type: "radio", id, name, value, checked }),
    ` ${text}`,
  );
}
