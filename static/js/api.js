// fetch + sign-in for the livecart REST API. The token lives in localStorage
// and goes out as "Authorization: Bearer"; the API's error shape becomes ApiError.

const TOKEN_KEY = "livecart.token";
/** Fired on window when this tab saves a new session (e.g. after a password change). */
export const SESSION_EVENT = "livecart:session";
const USER_KEY = "livecart.user";

export class ApiError extends Error {
  constructor(status, code, message, fields = null, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.details = details; // the whole error object (e.g. next_min_cents of bid_too_low)
  }
}

/** {token, user} of the signed-in user, or {token: null, user: null}. */
export function currentSession() {
  try {
    const token = localStorage.getItem(TOKEN_KEY);
    const user = JSON.parse(localStorage.getItem(USER_KEY) || "null");
    return token && user ? { token, user } : { token: null, user: null };
  } catch {
    return { token: null, user: null };
  }
}

export function saveSession({ token, user }) {
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(USER_KEY, JSON.stringify(user));
  // Other tabs hear of it through "storage" events; this one through this event.
  dispatchEvent(new Event(SESSION_EVENT));
}

// 401 codes meaning this token is no good any more (a password change or "sign out
// everywhere" revokes every older token): sign out locally.
const STALE_TOKEN = new Set(["invalid_token", "token_expired", "token_revoked"]);

export function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}

/**
 * Call the API. Returns the parsed JSON body (null for 204); throws ApiError.
 * A stale token (401 invalid_token / token_expired / token_revoked) signs the user out, and a
 * GET is retried once anonymously so public pages keep working.
 */
export async function api(path, { method = "GET", body, headers = {}, auth = true } = {}) {
  const { token } = currentSession();
  const sent = { Accept: "application/json", ...headers };
  if (auth && token) sent.Authorization = `Bearer ${token}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network_error", "The server cannot be reached. Try again.");
  }
  if (resp.status === 204) return null;
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (resp.ok) return data;
  const err = (data && data.error) || {};
  const code = err.code || `http_${resp.status}`;
  if (resp.status === 401 && token && STALE_TOKEN.has(code)) {
    signOut();
    if (method === "GET") return api(path, { method, headers, auth: false });
  }
  throw new ApiError(resp.status, code, err.message || resp.statusText, err.fields || null, err);
}

/** A human sentence for an ApiError, naming the bad fields if any. */
export function describe(error) {
  if (!(error instanceof ApiError)) return "Something went wrong. Try again.";
  if (error.fields) {
    const parts = Object.entries(error.fields).map(([k, v]) => `${k.replaceAll("_", " ")}: ${v}`);
    return `${error.message} (${parts.join("; ")})`;
  }
  return error.message;
}

export async function signIn(username, password) {
  const result = await api("/api/auth/login", {
    method: "POST",
    body: { username, password },
    auth: false,
  });
  saveSession(result);
  return result.user;
}

export async function register(username, password, role) {
  const result = await api("/api/auth/register", {
    method: "POST",
    body: { username, password, role },
    auth: false,
  });
  saveSession(result);
  return result.user;
}

/**
 * Sign out: the server stops accepting this token (every token of the account with
 * `everywhere`). Best effort: the local sign-out happens even when the call fails,
 * unless `strict` (then the error is thrown and the session kept, to retry).
 */
export async function logout({ everywhere = false, strict = false } = {}) {
  try {
    await api("/api/auth/logout", { method: "POST", body: everywhere ? { everywhere } : undefined });
  } catch (error) {
    if (strict) throw error;
  }
  signOut();
}

/** Change the password; the answer's new token replaces ours (every older one stops working). */
export async function changePassword(currentPassword, newPassword) {
  const result = await api("/api/me/password", {
    method: "POST",
    body: { current_password: currentPassword, new_password: newPassword },
  });
  saveSession(result);
  return result.user;
}

/** ws:// or wss:// URL on this origin. */
export function socketUrl(path, params = {}) {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  return url.toString();
}

/** The numeric id at the end of /live/{id} or /studio/{id}. */
export function pageId() {
  return decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
}
