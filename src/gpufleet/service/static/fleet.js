// The fleet: what the plan holds by site and by entity at a date, when sites become
// ready, the GPU-days stranded waiting for power, and each entity's GPUs over time.

import { api, errorBox, listAll } from "./api.js";
import { stepChart, shareBar } from "./chart.js";
import { badge, fmt, h, kpi, replace, section, table } from "./dom.js";

const METRICS = {
  gpus: "GPUs owned",
  delivered: "GPUs delivered",
  ready: "GPUs powered (ready)",
  stranded: "GPUs stranded",
  quota: "Quota (nominal GPUs)",
};

function quotaTotal(q) {
  return Object.values(q || {}).reduce((a, b) => a + (Number(b) || 0), 0);
}

function quotaText(q) {
  const parts = Object.entries(q || {}).map(([t, n]) => `${t}: ${fmt.int(n)}`);
  return parts.length ? parts.join(", ") : "—";
}

function siteStatus(s) {
  if (s.delivered === 0) return badge("nothing delivered", "ended");
  if (s.stranded === 0) return badge("ready", "ready");
  if (s.ready > 0) return badge("partly ready", "partly-ready");
  return badge("not ready", "not-ready");
}

function sitesTable(rows) {
  return table(
    rows,
    [
      { label: "Site", get: (s) => h("strong", null, String(s.site)) },
      { label: "Status", get: siteStatus },
      { label: "GPUs", get: (s) => fmt.int(s.gpus), num: true },
      { label: "Delivered", get: (s) => fmt.int(s.delivered), num: true },
      { label: "Powered", get: (s) => fmt.int(s.ready), num: true },
      { label: "Stranded", get: (s) => fmt.int(s.stranded), num: true },
      { label: "Power needed / ready / budget (kW)", get: (s) => `${fmt.int(s.needed_kw)} / ${fmt.int(s.ready_kw)} / ${fmt.int(s.power_kw)}`, num: true },
      { label: "Use of ready power", get: (s) => shareBar(s.ready_kw ? s.needed_kw / s.ready_kw : 0) },
      { label: "Stranded GPU-days", get: (s) => fmt.int(s.stranded_gpu_days), num: true },
      { label: "Value", get: (s) => fmt.usd(s.value_usd), num: true },
    ],
    { empty: "No site in the register.", rowAttrs: (s) => ({ dataset: { site: String(s.site) } }) },
  );
}

function entitiesTable(rows, fleetGpus, about) {
  return table(
    rows,
    [
      { label: "Entity", get: (e) => h("strong", null, String(e.entity)) },
      { label: "Description", get: (e) => h("span", { class: "entity-description" }, fmt.text((about[e.entity] || {}).description)) },
      { label: "Group", get: (e) => fmt.text((about[e.entity] || {}).group) },
      { label: "GPUs", get: (e) => fmt.int(e.gpus), num: true },
      { label: "Share of fleet", get: (e) => shareBar(fleetGpus ? e.gpus / fleetGpus : 0) },
      { label: "Delivered", get: (e) => fmt.int(e.delivered), num: true },
      { label: "Powered", get: (e) => fmt.int(e.ready), num: true },
      { label: "Stranded", get: (e) => fmt.int(e.stranded), num: true },
      { label: "Quota", get: (e) => quotaText(e.quota) },
      { label: "Stranded GPU-days", get: (e) => fmt.int(e.stranded_gpu_days), num: true },
      { label: "Value", get: (e) => fmt.usd(e.value_usd), num: true },
    ],
    { empty: "No entity you may see.", rowAttrs: (e) => ({ dataset: { entity: String(e.entity) } }) },
  );
}

function readinessCard(readiness, plan) {
  const series = readiness.map((r) => ({ name: r.site, points: (r.steps || []).map((st) => [st.date, st.ready_kw]) }));
  const rows = readiness.flatMap((r) => (r.steps || []).map((st) => Object.assign({ site: r.site, budget: r.power_kw }, st)));
  return section(
    "Site readiness",
    stepChart(series, { unit: "ready kW", label: "Ready power per site over time", end: plan.end }),
    table(
      rows,
      [
        { label: "Site", get: (r) => String(r.site) },
        { label: "From", get: (r) => String(r.date).slice(0, 10) },
        { label: "Block (kW)", get: (r) => fmt.int(r.power_kw), num: true },
        { label: "Ready then (kW)", get: (r) => fmt.int(r.ready_kw), num: true },
        { label: "Budget (kW)", get: (r) => fmt.int(r.budget), num: true },
        { label: "Note", get: (r) => fmt.text(r.note) },
      ],
      { empty: "No readiness steps." },
    ),
  );
}

function allocationSeries(allocations, metric) {
  const names = [...new Set(allocations.flatMap((a) => Object.keys(a.entities || {})))];
  return names.map((name) => ({
    name,
    points: allocations.filter((a) => a.entities && a.entities[name]).map((a) => [a.at, metric === "quota" ? quotaTotal(a.entities[name].quota) : a.entities[name][metric]]),
  }));
}

function allocationsCard(allocations, plan) {
  const holder = h("div", { id: "allocations-chart" });
  const select = h("select", { id: "allocation-metric", "aria-label": "What to draw" }, Object.entries(METRICS).map(([k, label]) => h("option", { value: k }, label)));
  const draw = () => replace(holder, stepChart(allocationSeries(allocations, select.value), { unit: METRICS[select.value], label: `${METRICS[select.value]} per entity over time`, end: plan.end }));
  select.addEventListener("change", draw);
  draw();
  const names = [...new Set(allocations.flatMap((a) => Object.keys(a.entities || {})))];
  const data = table(
    allocations,
    [{ label: "From", get: (a) => fmt.time(a.at) }, ...names.map((n) => ({ label: `${n} GPUs (powered)`, get: (a) => (a.entities[n] ? `${fmt.int(a.entities[n].gpus)} (${fmt.int(a.entities[n].ready)})` : "—"), num: true }))],
    { empty: "No allocation." },
  );
  return section("Allocations over time", h("div", { class: "toolbar" }, h("label", { for: "allocation-metric" }, "Show"), select), holder, h("details", null, h("summary", null, "The figures at each change"), data));
}

export async function renderFleet(view, _params, ctx) {
  const at = h("input", { type: "date", id: "fleet-at", "aria-label": "As of" });
  const body = h("div");
  async function load() {
    const q = at.value ? `?at=${encodeURIComponent(at.value)}` : "";
    const [r, entities] = await Promise.all([api(`/reports/fleet${q}`), listAll("/entities")]);
    const about = Object.fromEntries(entities.map((e) => [e.name, e]));
    if (!at.value) at.value = String(r.at).slice(0, 10);
    at.min = String(r.plan.start).slice(0, 10);
    at.max = String(r.plan.end).slice(0, 10);
    const f = r.fleet || {};
    const scoped = ctx.me && ctx.me.role !== "fleet-admin";
    replace(
      body,
      h("p", { class: "muted", id: "plan-line" }, `Plan ${r.plan.name}, ${String(r.plan.start).slice(0, 10)} to ${String(r.plan.end).slice(0, 10)}; figures as of ${String(r.at).slice(0, 10)}.`),
      h(
        "div",
        { class: "kpis" },
        kpi("GPUs in the plan", fmt.int(f.gpus), `${fmt.int(f.delivered)} delivered by ${String(r.at).slice(0, 10)}`),
        kpi("Powered", fmt.int(f.ready), f.delivered ? `${fmt.pct(f.ready / f.delivered)} of delivered` : ""),
        kpi("Stranded now", fmt.int(f.stranded), "delivered GPUs without ready power", { class: f.stranded ? "kpi alert" : "kpi" }),
        kpi("Stranded capacity", h("span", { id: "stranded-gpu-days" }, fmt.int(r.stranded ? r.stranded.gpu_days : f.stranded_gpu_days)), "GPU-days over the plan", { class: (r.stranded ? r.stranded.gpu_days : f.stranded_gpu_days) ? "kpi alert" : "kpi", id: "kpi-stranded" }),
        kpi("Fleet value", fmt.usd(f.value_usd)),
      ),
      scoped ? h("p", { class: "notice" }, `As ${ctx.me.role} of ${ctx.me.entity}, you see the fleet's and the sites' totals, and your own entity's figures.`) : null,
      section("By site", sitesTable(r.by_site || [])),
      section("By entity", entitiesTable(r.by_entity || [], f.gpus, about)),
      allocationsCard(r.allocations || [], r.plan),
      readinessCard(r.readiness || [], r.plan),
      r.stranded && r.stranded.method ? h("p", { class: "hint" }, `Stranded capacity: ${r.stranded.method}.`) : null,
    );
  }
  at.addEventListener("change", () => load().catch((err) => body.prepend(errorBox(err, "The report could not be loaded"))));
  const title = h("h1", { title: "The plan the register makes, approved, active and ended transfers included" }, "Fleet");
  replace(view, h("div", { class: "toolbar" }, title, h("span", { class: "spacer" }), h("label", { for: "fleet-at" }, "As of"), at), body);
  await load();
}
