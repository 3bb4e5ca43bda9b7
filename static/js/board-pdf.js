// Packing slips and pick lists are PDFs behind the bearer token: a plain link cannot send
// it, so fetch with the token and open the file as a blob: URL in a new tab.

import { ApiError, currentSession } from "./api.js";

/** Fetch the PDF at `path` and open it in a new tab; throws ApiError when refused. */
export async function openPdf(path, filename = "livecart.pdf") {
  // Opened now, while the click still counts as the user's: a tab opened after the
  // download would be taken for a pop-up.
  const tab = window.open("", "_blank");
  try {
    const { token } = currentSession();
    let resp;
    try {
      resp = await fetch(path, {
        headers: { Accept: "application/pdf", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      });
    } catch {
      throw new ApiError(0, "network_error", "The server cannot be reached. Try again.");
    }
    if (!resp.ok) {
      const err = (await resp.json().catch(() => null))?.error || {};
      throw new ApiError(resp.status, err.code || `http_${resp.status}`, err.message || resp.statusText);
    }
    const url = URL.createObjectURL(await resp.blob());
    if (tab) tab.location.href = url;
    else {
      // Pop-ups blocked: save the file instead.
      const link = Object.assign(document.createElement("a"), { href: url, download: filename });
      document.body.append(link);
      link.click();
      link.remove();
    }
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    tab?.close();
    throw error;
  }
}
