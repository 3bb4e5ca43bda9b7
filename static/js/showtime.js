// Show times: a live's scheduled start in the viewer's own locale and time zone
// ("Sat 12 Dec, 18:00" in en-GB, "Sat, Dec 12, 06:00 PM" in en-US), how far off it
// is ("in 2 days"), and the <input type="datetime-local"> values it is edited in
// (wall-clock time in the browser's time zone, sent to the API as ISO with an offset).

const pad = (n) => String(n).padStart(2, "0");

function parse(iso) {
  const date = iso instanceof Date ? iso : new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "Sat 12 Dec, 18:00" (the year too when it is not this year's). */
export function showTime(iso, now = new Date()) {
  const date = parse(iso);
  if (!date) return "";
  const options = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return new Intl.DateTimeFormat(undefined, options).format(date);
}

/** "Sat 12 Dec" (the year too when it is not this year's). */
export function showDay(iso, now = new Date()) {
  const date = parse(iso);
  if (!date) return "";
  const options = { weekday: "short", day: "numeric", month: "short" };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return new Intl.DateTimeFormat(undefined, options).format(date);
}

const startOfDay = (date) => new Date(date.getFullYear(), date.getMonth(), date.getDate());

/**
 * "in 45 minutes", "in 5 hours", "tomorrow", "in 2 days", "3 hours ago": minutes under an
 * hour, hours under a day, then calendar days in the browser's time zone.
 */
export function fromNow(iso, now = new Date()) {
  const date = parse(iso);
  if (!date) return "";
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const diff = date.getTime() - now.getTime();
  const minutes = Math.round(diff / 60_000);
  if (Math.abs(diff) < 60_000) return rtf.format(0, "second"); // "now"
  if (Math.abs(minutes) < 60) return rtf.format(minutes, "minute");
  if (Math.abs(diff) < 86_400_000) return rtf.format(Math.round(diff / 3_600_000), "hour");
  // Rounded: a day with a daylight-saving change is 23 or 25 hours long.
  const days = Math.round((startOfDay(date) - startOfDay(now)) / 86_400_000);
  return rtf.format(days, "day");
}

/** An ISO time → a datetime-local value ("2026-12-12T18:30") in the browser's time zone. */
export function toLocalInput(iso) {
  const date = iso ? parse(iso) : null;
  if (!date) return "";
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/**
 * A datetime-local value, read as wall-clock time in the browser's time zone → ISO 8601 with
 * that zone's offset ("2026-12-12T18:30:00+05:30"); "" → null; unreadable → undefined.
 */
export function fromLocalInput(value) {
  if (!value) return null;
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, hh, mm, ss = "00"] = match;
  const date = new Date(Number(y), Number(mo) - 1, Number(d), Number(hh), Number(mm), Number(ss));
  if (Number.isNaN(date.getTime())) return undefined;
  // The offset of that moment (not of today: daylight saving may differ).
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  const local = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return `${local}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The browser's time zone name ("Europe/Paris"), or "" when it does not say. */
export function timeZoneName() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
}
