// The live fleet: what the sources were last seen to hold (in use, idle, stranded per
// entity and site, with GPU-days and dollars over a window), its trend, pending demand
// with the reasons, drift against the register, leases suggested (each a link that fills
// in the transfer request form), the sources that failed. GET /live/status and
// /live/series; a fleet admin of a server with a live configuration may observe now.
// A count the sources did not give is null in the JSON: shown as "unknown" with why (the
// status's `unknown` reasons) as its title, never added in as 0.

import { api, errorBox } from "./api.js";
import { stepChart } from "./chart.js";
import { badge, fmt, h, kpi, replace, section, table } from "./dom.js";

const WINDOWS = { "1h": "last hour", "6h": "last 6 hours", "1d": "last day", "7d": "last 7 days", "30d": "last 30 days" };

const TRENDS = {
  in_use: "GPUs in use (allocated, measured busy)",
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

/** `v` shown by `show`, or "unknown" (null: the sources did not give it) titled with why. */
function known(v, show, why) {
  return v == null ? h("span", { class: "unknown", title: why || "not given by the sources" }, "unknown") : show(v);
}

/** Why a count is unknown: use (busy or idle, from telemetry) or the schedulers' counts. */
function reasons(st) {
  const u = st.unknown || {};
  return { use: u.use || u.capacity || null, capacity: u.capacity || null };
}

/** The totals columns shared by the entity and site tables (`t`: by_entity/by_site value). */
function totalsColumns(why) {
  const c = (label, cls, key, show, reason) => ({ label, get: (t) => cell(cls, known(t[key], show, reason)), num: true });
  return [
    c("In use now", "in-use-now", "in_use_now", fmt.int, why.use),
    c("Idle now", "idle-now", "idle_now", fmt.int, why.capacity),
    c("Stranded now", "stranded-now", "stranded_now", fmt.int, why.capacity),
    c("Use unknown now", "unknown-use-now", "unknown_use_now", fmt.int, why.capacity),
    c("In use (GPU-days)", "in-use-days", "in_use_gpu_days", days, why.use),
    c("Idle (GPU-days)", "idle-days", "idle_gpu_days", days, why.capacity),
    c("Idle cost", "idle-usd", "idle_usd", fmt.usd, why.capacity),
    c("Stranded (GPU-days)", "stranded-days", "stranded_gpu_days", days, why.capacity),
    c("Stranded cost", "stranded-usd", "stranded_usd", fmt.usd, why.capacity),
    c("Use unknown (GPU-days)", "unknown-use-days", "unknown_use_gpu_days", days, why.capacity),
  ];
}

function totalsTable(byName, label, key, why) {
  const rows = Object.entries(byName || {}).map(([name, t]) => Object.assign({ name }, t));
  return table(rows, [{ label, get: (r) => h("strong", null, String(r.name)) }, ...totalsColumns(why)], {
    empty: "Nothing observed that you may see.",
    rowAttrs: (r) => ({ dataset: { [key]: String(r.name) } }),
  });
}

/** The rows' `key` added up; null (unknown) when any row's is: a sum over an unknown part
 * is unknown, as the status's own totals are. */
function sum(rows, key) {
  let total = 0;
  for (const t of Object.values(rows || {})) {
    if (t[key] == null) return null;
    total += Number(t[key]);
  }
  return total;
}

function kpis(st) {
  const e = st.by_entity || {};
  const why = reasons(st);
  const stranded = sum(e, "stranded_gpu_days");
  const unknownUse = sum(e, "unknown_use_now");
  const figure = (id, v, show, reason) => h("span", { id }, known(v, show, reason));
  const daysLine = (id, v, reason) => h("span", { id }, v == null ? `GPU-days over the window unknown: ${reason || "not given by the sources"}` : `${days(v)} GPU-days over the window`);
  return h(
    "div",
    { class: "kpis" },
    kpi("In use now", figure("kpi-in-use", sum(e, "in_use_now"), fmt.int, why.use), h("span", { id: "kpi-in-use-note" }, sum(e, "in_use_now") == null ? `unknown: ${why.use || "not given by the sources"}` : `GPUs allocated and measured at or above ${fmt.num(st.busy_threshold_pct)}% utilisation`)),
    kpi("Idle now", figure("kpi-idle", sum(e, "idle_now"), fmt.int, why.capacity), `below ${fmt.num(st.busy_threshold_pct)}% utilisation, or unallocated`),
    kpi("Use unknown now", figure("kpi-unknown-use", unknownUse, fmt.int, why.capacity), h("span", { id: "kpi-unknown-use-note" }, unknownUse ? `neither in use nor idle: ${st.unknown?.use || "no utilisation sample"}` : "allocated GPUs without a utilisation sample")),
    kpi("Stranded now", figure("kpi-stranded", sum(e, "stranded_now"), fmt.int, why.capacity), "registered GPUs down, drained or not seen", { class: sum(e, "stranded_now") ? "kpi alert" : "kpi" }),
    kpi("Stranded cost", figure("kpi-stranded-usd", sum(e, "stranded_usd"), fmt.usd, why.capacity), daysLine("kpi-stranded-days", stranded, why.capacity), { class: stranded ? "kpi alert" : "kpi" }),
    kpi("Idle cost", figure("kpi-idle-usd", sum(e, "idle_usd"), fmt.usd, why.capacity), daysLine("kpi-idle-days", sum(e, "idle_gpu_days"), why.capacity)),
  );
}

const USE_FIELDS = new Set(["busy", "idle", "unmeasured", "unscheduled", "in_use"]);

function capacityTable(rows, why) {
  const n = (k) => ({ label: k.replace("_", " "), get: (c) => cell(k.replace("_", "-"), known(c[k], fmt.int, USE_FIELDS.has(k) ? why.use : why.capacity)), num: true });
  return table(
    rows,
    [
      { label: "Entity", get: (c) => h("strong", null, String(c.entity)) },
      { label: "Site", get: (c) => String(c.site) },
      { label: "GPU type", get: (c) => String(c.gpu_type) },
      ...["registered", "seen", "up", "down", "drained", "allocated", "in_use", "busy", "idle", "unallocated", "unmeasured", "stranded"].map(n),
    ],
    { empty: "No observation yet.", rowAttrs: (c) => ({ dataset: { entity: String(c.entity), site: String(c.site), gpuType: String(c.gpu_type) } }) },
  );
}

/** A point's value of the metric; NaN where unknown (the chart leaves it out). In use is
 * the GPUs measured busy; idle is up-and-unallocated plus allocated-but-idle (as the
 * status counts it). */
function metricOf(p, metric) {
  const v = metric === "in_use" ? p.busy : metric === "idle" ? (p.unallocated == null ? null : p.unallocated + (p.idle ?? 0)) : p.stranded;
  return v == null ? NaN : Number(v);
}

/** Per entity, the trend's metric summed over its sites and types, at each point (unknown
 * at a point where any of its rows is). */
function trendSeries(series, metric) {
  const byEntity = new Map();
  for (const sr of series) {
    const points = byEntity.get(sr.entity) || new Map();
    for (const p of sr.points) {
      points.set(p.at, (points.has(p.at) ? points.get(p.at) : 0) + metricOf(p, metric));
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

/** What the latest sample could not count, and why (the status's `unknown`). */
function unknownNote(st) {
  const u = st.unknown || {};
  const lines = [u.capacity ? `The schedulers' counts are unknown: ${u.capacity}.` : null, u.use ? `Use is unknown for some GPUs (neither in use nor idle): ${u.use}.` : null].filter(Boolean);
  return lines.length ? h("div", { class: "notice", id: "live-unknown" }, lines.map((l) => h("p", null, l))) : null;
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
      unknownNote(st),
      section("By entity", totalsTable(st.by_entity, "Entity", "entity", reasons(st))),
      section("By site", totalsTable(st.by_site, "Site", "site", reasons(st))),
      trendCard(series),
      section("Capacity now, by entity, site and GPU type", capacityTable(st.capacity || [], reasons(st))),
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
