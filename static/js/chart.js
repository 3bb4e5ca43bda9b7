// A small inline-SVG line chart (no library): samples over time, y from 0.

const NS = "http://www.w3.org/2000/svg";
const W = 480;
const H = 200;
const PAD = { left: 58, right: 10, top: 10, bottom: 26 };

function svg(tag, attrs = {}, text = null) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== null) el.textContent = text;
  return el;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= value) return m * step;
  return 10 * step;
}

/**
 * Draw samples [{t: ms, v: number}] into the <svg> element `root`.
 * format(v) labels the y axis; floor is the smallest top of the y axis;
 * title/summary make the chart readable by screen readers.
 */
export function drawChart(root, samples, { format = String, title = "", summary = "", floor = 1 } = {}) {
  root.setAttribute("viewBox", `0 0 ${W} ${H}`);
  root.setAttribute("role", "img");
  root.replaceChildren(svg("title", {}, title), svg("desc", {}, summary));
  const x0 = PAD.left;
  const x1 = W - PAD.right;
  const y0 = H - PAD.bottom;
  const y1 = PAD.top;
  const max = niceMax(Math.max(floor, ...samples.map((s) => s.v)));
  const tMin = samples.length ? samples[0].t : 0;
  const tMax = samples.length > 1 ? samples[samples.length - 1].t : tMin + 1;
  const x = (t) => x0 + ((t - tMin) / Math.max(1, tMax - tMin)) * (x1 - x0);
  const y = (v) => y0 - (v / max) * (y0 - y1);

  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    root.append(svg("line", { class: "grid", x1: x0, x2: x1, y1: y(v), y2: y(v) }));
    root.append(svg("text", { x: x0 - 6, y: y(v) + 4, "text-anchor": "end" }, format(v)));
  }
  root.append(svg("line", { class: "axis", x1: x0, x2: x0, y1: y0, y2: y1 }));
  root.append(svg("line", { class: "axis", x1: x0, x2: x1, y1: y0, y2: y0 }));
  if (samples.length) {
    const clock = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    root.append(svg("text", { x: x0, y: H - 8 }, clock(tMin)));
    root.append(svg("text", { x: x1, y: H - 8, "text-anchor": "end" }, clock(tMax)));
  }
  if (samples.length < 2) return;
  const points = samples.map((s) => `${x(s.t).toFixed(1)},${y(s.v).toFixed(1)}`);
  root.append(svg("path", { class: "area", d: `M${x0},${y0}L${points.join("L")}L${x(tMax)},${y0}Z` }));
  root.append(svg("polyline", { class: "line", points: points.join(" ") }));
}
