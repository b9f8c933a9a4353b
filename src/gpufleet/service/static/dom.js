// DOM building without HTML parsing: every string from the API becomes a text node or an
// attribute value set through the DOM, so markup in a name or description shows as text.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(el, c);
  } else if (child instanceof Node) {
    el.appendChild(child);
  } else {
    el.appendChild(document.createTextNode(String(child)));
  }
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key === "value" && "value" in el) {
      el.value = String(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

/** An HTML element: h("td", {class: "num"}, "12,000"). Children: nodes, strings, arrays. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element, same calling convention as h(). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

const intFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const oneFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

export const fmt = {
  int: (v) => (isNum(v) ? intFmt.format(v) : v == null ? "—" : String(v)),
  num: (v) => (isNum(v) ? oneFmt.format(v) : v == null ? "—" : String(v)),
  pct: (v) => (isNum(v) ? `${oneFmt.format(v * 100)}%` : "—"),
  /** Dollars, shortened: $500M, $52.7M, $41,667. */
  usd(v) {
    if (!isNum(v)) return "—";
    const a = Math.abs(v);
    if (a >= 1e9) return `$${oneFmt.format(v / 1e9)}B`;
    if (a >= 1e6) return `$${oneFmt.format(v / 1e6)}M`;
    return `$${intFmt.format(v)}`;
  },
  /** Signed days: +20.7 d, −50 d. */
  days(v) {
    if (!isNum(v)) return "—";
    const sign = v > 0 ? "+" : v < 0 ? "−" : "±";
    return `${sign}${oneFmt.format(Math.abs(v))} d`;
  },
  /** An ISO time as "2024-06-15 14:03 UTC"; a bare date stays as is. */
  time(v) {
    if (typeof v !== "string") return v == null ? "—" : String(v);
    const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})/.exec(v);
    return m ? `${m[1]} ${m[2]} UTC` : v;
  },
  text: (v) => (v == null || v === "" ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v)),
};

/** A table from rows and column specs {label, get(row) -> node|string, num?}. */
export function table(rows, columns, opts = {}) {
  const head = h("tr", null, columns.map((c) => h("th", { class: c.num ? "num" : null, scope: "col" }, c.label)));
  const body = rows.map((row) =>
    h(
      "tr",
      opts.rowAttrs ? opts.rowAttrs(row) : null,
      columns.map((c) => h("td", { class: c.num ? "num" : null }, c.get(row))),
    ),
  );
  const empty = rows.length === 0 ? h("tr", null, h("td", { colspan: columns.length, class: "empty" }, opts.empty || "Nothing here yet.")) : null;
  return h("div", { class: "table-wrap" }, h("table", { class: opts.cls || "grid" }, h("thead", null, head), h("tbody", null, body, empty)));
}

/** A labelled figure card for the KPI row. */
export function kpi(label, value, note, attrs) {
  return h("div", Object.assign({ class: "kpi" }, attrs || {}), h("div", { class: "kpi-label" }, label), h("div", { class: "kpi-value" }, value), note ? h("div", { class: "kpi-note" }, note) : null);
}

export function badge(text, kind) {
  return h("span", { class: `badge badge-${kind || String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-")}` }, text);
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", null, title), children);
}

/** Save a Blob as a file, through a temporary object URL. */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
