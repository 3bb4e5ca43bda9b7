// Dead letters: queue entries that failed too often and need a person. They have no live
// feed, so they are read when the board (re)connects and on "Refresh" — never polled.

import { api, describe } from "./api.js";
import { $, h, replace } from "./dom.js";
import { dateTime } from "./board-model.js";

export async function loadDeadLetters() {
  try {
    const { dead_letters: rows } = await api("/api/fulfillment/dead-letters?limit=50");
    $("#dead-count").textContent = rows.length === 50 ? "50+" : String(rows.length);
    replace(
      $("#dead-letters"),
      rows.length
        ? rows.map((d) =>
            h(
              "tr",
              {},
              h("td", {}, String(d.id)),
              h("td", {}, d.order_id === null ? "—" : `#${d.order_id}`),
              h("td", {}, d.error),
              h("td", {}, String(d.attempts)),
              h("td", {}, h("time", { datetime: d.created_at }, dateTime(d.created_at))),
            ),
          )
        : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No dead letters. The queue is healthy.")),
    );
  } catch (error) {
    replace($("#dead-letters"), h("tr", {}, h("td", { colspan: 5, class: "form-error" }, `Could not read them: ${describe(error)}`)));
  }
}
