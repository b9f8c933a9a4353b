// The live fleet: what the sources were last seen to hold (in use, idle, stranded per
// entity and site, with GPU-days and dollars over a window), its trend, pending demand
// with the reasons, drift against the register, leases suggested (each a link that fills
// in the transfer request form), the sources that failed. GET /live/status and
// /live/series; a fleet admin of a server with a live configuration may observe now.

import { api, errorBox } from "./api.js";
import { stepChart } from "./chart.js";
import { badge, fmt, h, kpi, replace, section, table } from "./dom.js";

const WINDOWS = { "1h": "last hour", "6h": "last 6 hours", "1d": "last day", "7d": "last 7 days", "30d": "last 30 days" };

const TRENDS = {
  in_use: "GPUs in use (allocated, not idle)",
  idle: "GPUs idle (allocated but idle, or up and unallocated)",
  stranded: "GPUs stranded (down, drained or not seen)",
};

const twoFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

/** GPU-days to two decimals: 0.25, 1, 0.67. */
function days(v) {
  return typeof v === "number" && Number.isFinite(v) ? twoFmt.format(v) : "—";
}

function cell(cls, text) {
  return h("span", { class: cls }, text);
}

/** The totals columns shared by the entity and site tables (`t`: by_entity/by_site value). */
const TOTALS = [
  { label: "In use now", get: (t) => cell("in-use-now", fmt.int(t.in_use_now)), num: true },
  { label: "Idle now", get: (t) => cell("idle-now", fmt.int(t.idle_now)), num: true },
  { label: "Stranded now", get: (t) => cell("stranded-now", fmt.int(t.stranded_now)), num: true },
  { label: "In use (GPU-days)", get: (t) => cell("in-use-days", days(t.in_use_gpu_days)), num: true },
  { label: "Idle (GPU-days)", get: (t) => cell("idle-days", days(t.idle_gpu_days)), num: true },
  { label: "Idle cost", get: (t) => cell("idle-usd", fmt.usd(t.idle_usd)), num: true },
  { label: "Stranded (GPU-days)", get: (t) => cell("stranded-days", days(t.stranded_gpu_days)), num: true },
  { label: "Stranded cost", get: (t) => cell("stranded-usd", fmt.usd(t.stranded_usd)), num: true },
];

function totalsTable(byName, label, key) {
  const rows = Object.entries(byName || {}).map(([name, t]) => Object.assign({ name }, t));
  return table(rows, [{ label, get: (r) => h("strong", null, String(r.name)) }, ...TOTALS], {
    empty: "Nothing observed that you may see.",
    rowAttrs: (r) => ({ dataset: { [key]: String(r.name) } }),
  });
}

function sum(rows, key) {
  return Object.values(rows || {}).reduce((a, t) => a + (Number(t[key]) || 0), 0);
}

function kpis(st) {
  const e = st.by_entity || {};
  const stranded = sum(e, "stranded_gpu_days");
  return h(
    "div",
    { class: "kpis" },
    kpi("In use now", h("span", { id: "kpi-in-use" }, fmt.int(sum(e, "in_use_now"))), "GPUs allocated and not idle"),
    kpi("Idle now", h("span", { id: "kpi-idle" }, fmt.int(sum(e, "idle_now"))), `below ${fmt.num(st.busy_threshold_pct)}% utilisation, or unallocated`),
    kpi("Stranded now", h("span", { id: "kpi-stranded" }, fmt.int(sum(e, "stranded_now"))), "registered GPUs down, drained or not seen", { class: sum(e, "stranded_now") ? "kpi alert" : "kpi" }),
    kpi("Stranded cost", h("span", { id: "kpi-stranded-usd" }, fmt.usd(sum(e, "stranded_usd"))), h("span", { id: "kpi-stranded-days" }, `${days(stranded)} GPU-days over the window`), { class: stranded ? "kpi alert" : "kpi" }),
    kpi("Idle cost", h("span", { id: "kpi-idle-usd" }, fmt.usd(sum(e, "idle_usd"))), h("span", { id: "kpi-idle-days" }, `${days(sum(e, "idle_gpu_days"))} GPU-days over the window`)),
  );
}

function capacityTable(rows) {
  const n = (k) => ({ label: k.replace("_", " "), get: (c) => cell(k.replace("_", "-"), fmt.int(c[k])), num: true });
  return table(
    rows,
    [
      { label: "Entity", get: (c) => h("strong", null, String(c.entity)) },
      { label: "Site", get: (c) => String(c.site) },
      { label: "GPU type", get: (c) => String(c.gpu_type) },
      ...["registered", "seen", "up", "down", "drained", "allocated", "busy", "idle", "unallocated", "unmeasured", "stranded"].map(n),
    ],
    { empty: "No observation yet.", rowAttrs: (c) => ({ dataset: { entity: String(c.entity), site: String(c.site), gpuType: String(c.gpu_type) } }) },
  );
}

/** Per entity, the trend's metric summed over its sites and types, at each point. */
function trendSeries(series, metric) {
  const byEntity = new Map();
  for (const sr of series) {
    const points = byEntity.get(sr.entity) || new Map();
    for (const p of sr.points) {
      const v = metric === "in_use" ? (p.allocated ?? 0) - (p.idle ?? 0) : metric === "idle" ? (p.idle ?? 0) + (p.unallocated ?? 0) : p.stranded;
      points.set(p.at, (points.get(p.at) || 0) + (Number(v) || 0));
    }
    byEntity.set(sr.entity, points);
  }
  return [...byEntity.entries()].map(([name, points]) => ({ name, points: [...points.entries()].sort((a, b) => Date.parse(a[0]) - Date.parse(b[0])) }));
}

function trendCard(seriesBody) {
  const holder = h("div", { id: "live-trend-chart" });
  const select = h("select", { id: "live-trend-metric", "aria-label": "What to draw" }, Object.entries(TRENDS).map(([k, label]) => h("option", { value: k }, label)));
  select.value = "stranded";
  const draw = () => replace(holder, stepChart(trendSeries(seriesBody.series || [], select.value), { unit: TRENDS[select.value], label: `${TRENDS[select.value]} per entity`, empty: "No samples in the window." }));
  select.addEventListener("change", draw);
  draw();
  const note = `${seriesBody.resolution} resolution over the window; a downsampled point is the span-weighted mean of the samples it merges.`;
  return section("Trend", h("div", { class: "toolbar" }, h("label", { for: "live-trend-metric" }, "Show"), select), holder, h("p", { class: "hint" }, note));
}

function demandTable(rows) {
  return table(
    rows,
    [
      { label: "Program", get: (d) => h("strong", null, fmt.text(d.program)) },
      { label: "Entity", get: (d) => fmt.text(d.entity) },
      { label: "GPU type", get: (d) => fmt.text(d.gpu_type) },
      { label: "GPUs asked", get: (d) => cell("demand-gpus", fmt.int(d.gpus)), num: true },
      { label: "Jobs", get: (d) => fmt.int(d.jobs), num: true },
      { label: "Why they wait", get: (d) => (d.reason ? h("span", { title: fmt.text(d.sentence) }, badge(d.reason, "requested")) : "—") },
      { label: "The scheduler says", get: (d) => h("span", { class: "mono" }, (d.scheduler_reasons || []).join(", ") || "—") },
    ],
    { empty: "Nothing pending.", rowAttrs: (d) => ({ dataset: { program: String(d.program ?? "") } }) },
  );
}

function driftCard(drift) {
  if (!drift) return section("Drift", h("p", { class: "muted" }, "No observation to compare with the register."));
  const items = [...(drift.counts || []), ...(drift.quotas || [])].map((d) => h("li", { class: "drift" }, d.message));
  return section(
    "Drift from the register",
    items.length ? h("ul", { id: "drift-list" }, items) : h("p", { class: "muted", id: "drift-list" }, "What the sources show matches the register."),
    drift.note ? h("p", { class: "hint" }, drift.note) : null,
  );
}

/** The transfer request form's address, every field of the suggested request filled in. */
export function requestLink(request) {
  const q = new URLSearchParams();
  for (const key of ["pool", "gpus", "to", "to_site", "to_program", "start", "end", "price_usd", "name", "note"]) {
    const v = request[key];
    if (v !== undefined && v !== null && v !== "") q.set(key, String(v));
  }
  return `#/transfers?${q.toString()}`;
}

/** The giver's people request a transfer (the pool is theirs): the link is theirs and a
 * fleet admin's; the receiver is told who requests it. */
function requestCell(x, me) {
  if (me && (me.role === "fleet-admin" || me.entity === x.from_entity)) {
    return h("a", { class: "button primary request-lease", href: requestLink(x.request) }, "Request this lease");
  }
  return h("span", { class: "muted" }, `${x.from_entity} requests it (the GPUs are theirs)`);
}

function suggestionsTable(rows, me) {
  return table(
    rows,
    [
      { label: "Lease", get: (x) => h("strong", null, `${x.from_entity} → ${x.to_entity}`) },
      { label: "GPUs", get: (x) => cell("suggested-gpus", `${fmt.int(x.gpus)} ${x.gpu_type}`), num: true },
      { label: "Why", get: (x) => `${x.kind} at ${x.site} for ${fmt.num(x.wasted_s / 3600)} h, while ${x.to_program} waits for ${fmt.int(x.demand_gpus)} (${(x.demand_reasons || []).join(", ")})` },
      { label: "Period", get: (x) => `${x.request.start} .. ${x.request.end ?? ""}` },
      { label: "Assess", get: (x) => h("code", { class: "assess" }, x.assess_command) },
      { label: "", get: (x) => requestCell(x, me) },
    ],
    { empty: "No lease to suggest.", rowAttrs: (x) => ({ dataset: { from: String(x.from_entity), to: String(x.to_entity) } }) },
  );
}

function failuresTable(rows) {
  return table(
    rows,
    [
      { label: "Source", get: (f) => badge(String(f.source), "failed") },
      { label: "Asked", get: (f) => h("span", { class: "mono" }, fmt.text(f.asked)) },
      { label: "Error", get: (f) => h("span", { class: "failure-error" }, fmt.text(f.error)) },
      { label: "Times in the window", get: (f) => fmt.int(f.count), num: true },
    ],
    { empty: "Every source answered.", rowAttrs: (f) => ({ dataset: { source: String(f.source) } }) },
  );
}

function downTable(rows) {
  return table(
    rows,
    [
      { label: "Node", get: (n) => h("strong", null, String(n.node)) },
      { label: "Entity", get: (n) => String(n.entity) },
      { label: "Site / pool", get: (n) => `${n.site} / ${n.pool}` },
      { label: "GPUs", get: (n) => `${fmt.int(n.gpus)} ${n.gpu_type}`, num: true },
      { label: "State", get: (n) => badge(String(n.state), "not-ready") },
      { label: "Reason", get: (n) => h("span", { class: "down-reason" }, fmt.text(n.reason)) },
    ],
    { empty: "No node down or drained.", rowAttrs: (n) => ({ dataset: { node: String(n.node) } }) },
  );
}

function pollerCard(st, reload) {
  const p = st.poller;
  if (!p) return null;
  const out = h("div", { id: "observe-result", "aria-live": "polite" });
  const button = h("button", { type: "button", class: "primary", id: "observe-now" }, "Observe now");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const done = await api("/live/observe", { method: "POST", body: {} });
      replace(out, h("p", { class: "success" }, `Observed at ${fmt.time(done.at)}: ${done.failures.length} source(s) failed.`));
      await reload();
    } catch (err) {
      replace(out, errorBox(err, "The observation failed"));
    } finally {
      button.disabled = false;
    }
  });
  const line = `${p.config}, every ${fmt.num(p.every_s)} s: ${fmt.int(p.cycles)} cycle(s), the last ${fmt.time(p.last_finished_at)}`;
  return section("Polling", h("p", null, line), p.last_error ? h("p", { class: "error" }, p.last_error) : null, button, out);
}

export async function renderLive(view, _params, ctx) {
  const windowSelect = h("select", { id: "live-window", "aria-label": "Window" }, Object.entries(WINDOWS).map(([k, label]) => h("option", { value: k }, label)));
  windowSelect.value = "1d";
  const body = h("div");
  async function load() {
    const w = encodeURIComponent(windowSelect.value);
    const [st, series] = await Promise.all([api(`/live/status?window=${w}`), api(`/live/series?window=${w}`)]);
    const latest = st.latest;
    const scoped = ctx.me && ctx.me.role !== "fleet-admin";
    replace(
      body,
      h("p", { class: "muted", id: "live-line" }, latest ? `Last observed ${fmt.time(latest.at)}; ${fmt.int(st.window.samples)} sample(s) in the window since ${fmt.time(st.window.since)}.` : "Nothing observed in this window yet (gpufleet observe, or gpufleet serve --live-config FILE)."),
      scoped ? h("p", { class: "notice" }, `As ${ctx.me.role} of ${ctx.me.entity}, you see ${ctx.me.entity}'s GPUs, programs and drift, and the leases it is a party to.`) : null,
      kpis(st),
      section("By entity", totalsTable(st.by_entity, "Entity", "entity")),
      section("By site", totalsTable(st.by_site, "Site", "site")),
      trendCard(series),
      section("Capacity now, by entity, site and GPU type", capacityTable(st.capacity || [])),
      section("Pending demand", demandTable(st.demand || [])),
      driftCard(st.drift),
      section("Suggested leases", h("p", { class: "hint" }, "Each goes through the usual governance: the link fills in a transfer request, which then needs its assessment and approvals."), suggestionsTable(st.suggestions || [], ctx.me)),
      section("Nodes down or drained", downTable(st.down_nodes || [])),
      section("Failed sources", failuresTable(st.failures_in_window || [])),
      st.unmapped && st.unmapped.length ? section("Names the mapping does not place", table(st.unmapped, [{ label: "Kind", get: (u) => u.kind }, { label: "Name", get: (u) => u.name }, { label: "Source", get: (u) => u.source }, { label: "GPUs", get: (u) => fmt.int(u.gpus), num: true }])) : null,
      pollerCard(st, load),
    );
  }
  windowSelect.addEventListener("change", () => load().catch((err) => body.prepend(errorBox(err, "The live fleet could not be loaded"))));
  const title = h("h1", { title: "What the clusters' own sources show, against the register" }, "Live");
  replace(view, h("div", { class: "toolbar" }, title, h("span", { class: "spacer" }), h("label", { for: "live-window" }, "Window"), windowSelect), body);
  await load();
}
