// The shared page header (brand, links, who is signed in), the sign-in dialog and the
// account dialog (change password, sign out everywhere).

import { changePassword, currentSession, describe, logout, register, signIn } from "./api.js";
import { busy, formError, formValues, h, replace } from "./dom.js";

let dialog = null;
let accountDialog = null;

/** Fill <header id="site-header"> and return the current user (or null). */
export function mountHeader({ onChange = () => location.reload(), onProfile = null } = {}) {
  const header = document.getElementById("site-header");
  const { user } = currentSession();
  const links = [h("a", { href: "/", class: "brand" }, "livecart")];
  if (user) {
    const here = location.pathname === "/orders";
    links.push(h("a", { href: "/orders", "aria-current": here ? "page" : null }, "My orders"));
  }
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
            id: "account-button",
            "aria-haspopup": "dialog",
            on: { click: () => openAccount(user, { onChange, onProfile }) },
          },
          "Account",
        ),
        h(
          "button",
          {
            type: "button",
            class: "btn btn-quiet",
            id: "sign-out-button",
            on: { click: (event) => signOutHere(event.currentTarget, onChange) },
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

/** Sign out: the server forgets this token (best effort), then the page updates. */
async function signOutHere(button, onChange) {
  button.disabled = true;
  await logout();
  onChange(null);
}

/** The account dialog: the checkout profile (where the page offers it), change password,
 * sign out everywhere. */
export function openAccount(user, { onChange = () => location.reload(), onProfile = null } = {}) {
  accountDialog?.remove();
  const close = () => accountDialog.close();
  accountDialog = h(
    "dialog",
    { class: "dialog", id: "account-dialog", "aria-labelledby": "account-title" },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: "account-title" }, "Your account"),
      h("button", { type: "button", class: "btn btn-quiet", on: { click: close } }, "Close"),
    ),
    h("p", { class: "muted" }, `Signed in as ${user.username} (${user.role})`),
    onProfile && profileSection(close, onProfile),
    passwordForm(),
    everywhereForm(onChange),
  );
  document.body.append(accountDialog);
  accountDialog.showModal();
  accountDialog.querySelector("input")?.focus();
}

function profileSection(close, onProfile) {
  return h(
    "section",
    { class: "stack account-section", "aria-labelledby": "profile-link-title" },
    h("h3", { id: "profile-link-title" }, "Checkout profile"),
    h("p", { class: "muted flush" }, "Your saved shipping address and card, for buying in one tap."),
    h(
      "div",
      { class: "row" },
      h(
        "button",
        {
          type: "button",
          class: "btn",
          id: "profile-button",
          "aria-haspopup": "dialog",
          on: {
            click: () => {
              close();
              onProfile();
            },
          },
        },
        "Checkout profile",
      ),
    ),
  );
}

/** Change password. The new token is saved; the page carries on with it (the live socket,
 * closed with 4401 as the old token is revoked, reconnects with the new one). */
function passwordForm() {
  const form = h(
    "form",
    { class: "stack account-section", "aria-labelledby": "password-title" },
    h("h3", { id: "password-title" }, "Change password"),
    field("account-current", "Current password", {
      name: "current",
      type: "password",
      autocomplete: "current-password",
      required: true,
    }),
    field("account-new", "New password", {
      name: "next",
      type: "password",
      autocomplete: "new-password",
      required: true,
      minlength: 8,
    }),
    field("account-confirm", "Confirm new password", {
      name: "confirm",
      type: "password",
      autocomplete: "new-password",
      required: true,
      minlength: 8,
    }),
    h("p", { class: "form-ok", role: "status" }),
    h(
      "div",
      { class: "row" },
      h("button", { type: "submit", class: "btn btn-primary" }, "Change password"),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { current, next, confirm } = formValues(form);
    formError(form, null);
    form.querySelector(".form-ok").textContent = "";
    if (next !== confirm) {
      formError(form, "The new passwords do not match.");
      return;
    }
    try {
      await busy(form, () => changePassword(current, next));
    } catch (error) {
      formError(form, describe(error));
      return;
    }
    form.reset();
    form.querySelector(".form-ok").textContent =
      "Password changed. Your other devices are signed out.";
  });
  return form;
}

function everywhereForm(onChange) {
  const form = h(
    "form",
    { class: "stack account-section", "aria-labelledby": "everywhere-title" },
    h("h3", { id: "everywhere-title" }, "Sign out everywhere"),
    h("p", { class: "muted" }, "Ends every session of this account, on every device, this one too."),
    h(
      "div",
      { class: "row" },
      h("button", { type: "submit", class: "btn btn-danger" }, "Sign out everywhere"),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError(form, null);
    try {
      await busy(form, () => logout({ everywhere: true, strict: true }));
    } catch (error) {
      // A token that is no good any more was signed out locally already.
      if (!currentSession().token) return onChange(null);
      formError(form, describe(error));
      return;
    }
    onChange(null);
  });
  return form;
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
