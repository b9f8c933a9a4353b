// A small inline-SVG step chart (allocations change on dates, so steps, not slopes).

import { fmt, h, s } from "./dom.js";

export const PALETTE = ["#2f6fb0", "#d9822b", "#2e9e63", "#b03a48", "#7a5cc4", "#5b6675", "#c9a227", "#1b9aaa"];

function toTime(v) {
  if (typeof v === "number") return v;
  const t = Date.parse(String(v).length === 10 ? `${v}T00:00:00Z` : String(v));
  return Number.isNaN(t) ? null : t;
}

function niceStep(range, ticks) {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

function dateLabel(t, withTime) {
  const iso = new Date(t).toISOString();
  return withTime ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(0, 10);
}

/**
 * series: [{name, points: [[date, value], ...]}], points in time order; each value holds
 * until the next point. Returns a figure with the chart and its legend.
 */
export function stepChart(series, opts = {}) {
  const W = opts.width || 1100;
  const H = opts.height || 300;
  const m = { l: 64, r: 16, t: 26, b: 30 };
  const pts = series.map((sr) => ({ name: sr.name, points: sr.points.map(([d, v]) => [toTime(d), Number(v)]).filter(([t, v]) => t !== null && Number.isFinite(v)) }));
  const all = pts.flatMap((sr) => sr.points);
  if (all.length === 0) return h("p", { class: "muted" }, opts.empty || "No allocations to draw.");
  let t0 = Math.min(...all.map((p) => p[0]));
  let t1 = Math.max(...all.map((p) => p[0]));
  if (opts.end) t1 = Math.max(t1, toTime(opts.end) ?? t1);
  if (t1 === t0) t1 = t0 + 86400000;
  const vmax = Math.max(1, ...all.map((p) => p[1]));
  const step = niceStep(vmax, 4);
  const ymax = Math.ceil(vmax / step) * step;
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * (W - m.l - m.r);
  const y = (v) => H - m.b - (v / ymax) * (H - m.t - m.b);

  const grid = [];
  for (let v = 0; v <= ymax + 1e-9; v += step) {
    grid.push(s("line", { class: "gridline", x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
    grid.push(s("text", { x: m.l - 6, y: y(v) + 4, "text-anchor": "end" }, fmt.int(v)));
  }
  const xticks = [];
  const n = 5;
  const withTime = t1 - t0 < 3 * 86400000; // under three days: the hours matter (UTC)
  for (let i = 0; i <= n; i++) {
    const t = t0 + ((t1 - t0) * i) / n;
    xticks.push(s("text", { x: x(t), y: H - m.b + 16, "text-anchor": i === 0 ? "start" : i === n ? "end" : "middle" }, dateLabel(t, withTime)));
  }
  const lines = pts.map((sr, i) => {
    const color = PALETTE[i % PALETTE.length];
    let d = "";
    sr.points.forEach(([t, v], k) => {
      if (k === 0) d += `M${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      else d += `H${x(t).toFixed(1)}V${y(v).toFixed(1)}`;
    });
    if (sr.points.length) d += `H${x(t1).toFixed(1)}`;
    const dots = sr.points.map(([t, v]) => s("circle", { cx: x(t), cy: y(v), r: 3, fill: color }, s("title", null, `${sr.name}: ${fmt.int(v)} ${opts.unit || ""} from ${dateLabel(t, withTime)}`)));
    return s("g", { "data-series": sr.name }, s("path", { d, fill: "none", stroke: color, "stroke-width": 2 }), dots);
  });
  const svg = s(
    "svg",
    { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.label || "chart" },
    s("title", null, opts.label || "chart"),
    grid,
    s("line", { class: "axis", x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }),
    xticks,
    opts.unit ? s("text", { x: m.l, y: 12, "text-anchor": "start", class: "unit" }, opts.unit) : null,
    lines,
  );
  const legend = h("div", { class: "legend" }, pts.map((sr, i) => h("span", null, h("span", { class: "swatch", dataset: { color: PALETTE[i % PALETTE.length] } }), sr.name)));
  for (const sw of legend.querySelectorAll(".swatch")) sw.style.background = sw.dataset.color;
  return h("figure", { class: "figure" }, svg, legend);
}

/** A horizontal bar showing a share (0..1). */
export function shareBar(fraction) {
  const inner = h("div");
  inner.style.width = `${Math.max(0, Math.min(1, Number(fraction) || 0)) * 100}%`;
  return h("div", { class: "bar", title: fmt.pct(fraction) }, inner);
}
