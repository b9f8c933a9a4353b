// What-if runs: start one from change short forms (the CLI's --move, --quota, ...), list
// runs with their status, open a run and read its report.

import { api, apiText, errorBox, listAll } from "./api.js";
import { badge, download, fmt, h, replace, section, table } from "./dom.js";

export const KINDS = {
  move: "N TYPE FROM->TO[@SITE] DATE[..END] [price=USD] [pool=NAME]",
  quota: "PROGRAM TYPE=N DATE [borrow=N] [lend=N]",
  weight: "PROGRAM=W",
  deliver: "N TYPE ENTITY@SITE DATE [value=USD] [per-node=8]",
  delay: "SITE +Nd",
  policy: "NAME",
  scale: "PROGRAM xF",
};

/** "move 12000 H100 tesla->xai 2024-06-15" lines -> {"move": ["12000 H100 ..."]}; errors name the line. */
export function parseChanges(text) {
  const changes = {};
  const errors = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const m = /^-{0,2}([a-z]+)[\s:=]+(.+)$/.exec(line);
    if (!m || !(m[1] in KINDS)) {
      errors.push({ field: `line ${i + 1}`, message: `"${line}" does not start with a kind`, expected: `one of ${Object.keys(KINDS).join(", ")}, then its short form` });
      return;
    }
    (changes[m[1]] = changes[m[1]] || []).push(m[2].trim());
  });
  return { changes, errors };
}

function runName(r) {
  const req = r.request || {};
  return r.name || req.name || (r.kind === "assessment" ? `assessment of transfer ${r.transfer_id ?? req.transfer_id ?? "?"}` : `run ${r.id}`);
}

function statusBadge(st) {
  return badge(String(st ?? "?"), String(st ?? "unknown"));
}

function startForm(ctx, onStarted) {
  const name = h("input", { id: "run-name", name: "name", placeholder: "e.g. move the 12k to xAI", maxlength: "100" });
  const changes = h("textarea", { id: "run-changes", name: "changes", rows: "4", placeholder: "move 12000 H100 tesla->xai@xai-memphis 2024-06-15\ndelay tesla-gigatexas +30d" });
  const seeds = h("input", { id: "run-seeds", name: "seeds", type: "number", min: "1", max: "20", value: "3" });
  const out = h("div", { id: "run-result", "aria-live": "polite" });
  const form = h(
    "form",
    { id: "run-form" },
    h("div", { class: "form-row" }, h("div", null, h("label", { for: "run-name" }, "Name"), name), h("div", null, h("label", { for: "run-seeds" }, "Seeds"), seeds)),
    h("label", { for: "run-changes" }, "Changes, one a line"),
    changes,
    h("p", { class: "hint" }, "Each line: a kind and its short form, as the CLI's flags. The run compares the register's plan (the base) with the plan plus these changes, paired by seed."),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "run-start" }, "Start run")),
    out,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const parsed = parseChanges(changes.value);
    if (parsed.errors.length) {
      replace(out, errorBox({ message: "Some lines are not changes.", problems: parsed.errors, code: "invalid-input", status: 0 }, "Not started"));
      return;
    }
    const body = { name: name.value.trim() || "what-if", changes: parsed.changes, seeds: Number(seeds.value) || 3 };
    replace(out, h("p", { class: "loading" }, "Queueing…"));
    try {
      const run = await api("/runs", { method: "POST", body });
      const id = run.id ?? (run.run && run.run.id);
      ctx.go(`#/whatif/${id}`);
      onStarted && onStarted(run);
    } catch (err) {
      replace(out, errorBox(err, "The run was not started"));
    }
  });
  return form;
}

function shortForms() {
  return table(
    Object.entries(KINDS),
    [
      { label: "Kind", get: ([k]) => h("code", null, k) },
      { label: "Short form", get: ([, v]) => h("code", null, v) },
    ],
    { cls: "grid" },
  );
}

export async function renderWhatif(view, _params, ctx) {
  const runs = (await listAll("/runs")).sort((a, b) => (b.id ?? 0) - (a.id ?? 0));
  const mayStart = ctx.me && ["entity-admin", "fleet-admin"].includes(ctx.me.role);
  replace(
    view,
    h("h1", null, "What-if runs"),
    h(
      "div",
      { class: "cols" },
      mayStart ? section("Start a run", startForm(ctx)) : section("Start a run", h("p", { class: "muted" }, `Starting runs needs an entity-admin or fleet-admin token (this one is ${ctx.me ? ctx.me.role : "?"}).`)),
      section("Change short forms", shortForms()),
    ),
    section(
      "Runs",
      table(
        runs,
        [
          { label: "#", get: (r) => h("a", { href: `#/whatif/${r.id}` }, String(r.id)), num: true },
          { label: "Name", get: (r) => h("a", { href: `#/whatif/${r.id}` }, String(runName(r))) },
          { label: "Kind", get: (r) => fmt.text(r.kind) },
          { label: "Status", get: (r) => statusBadge(r.status) },
          { label: "By", get: (r) => h("span", { class: "wrap" }, fmt.text(r.created_by)) },
          { label: "Created", get: (r) => fmt.time(r.created_at) },
          { label: "Finished", get: (r) => fmt.time(r.finished_at) },
        ],
        { empty: "No run yet.", rowAttrs: (r) => ({ dataset: { runId: String(r.id), status: String(r.status) } }) },
      ),
    ),
  );
}

function changesList(req) {
  const ch = (req && (req.changes || (req.request && req.request.changes))) || {};
  const lines = Object.entries(ch).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k} ${typeof x === "string" ? x : JSON.stringify(x)}`));
  return lines.length ? h("ul", { class: "mono" }, lines.map((l) => h("li", null, l))) : h("p", { class: "muted" }, "No change listed.");
}

async function reportFrame(id) {
  const html = await apiText(`/runs/${id}/report`);
  // A sandbox without allow-scripts or allow-same-origin: the report is shown, never run.
  const frame = h("iframe", { class: "report", id: "run-report", title: `Report of run ${id}`, sandbox: "", referrerpolicy: "no-referrer" });
  frame.srcdoc = html;
  const save = h("button", { type: "button", id: "report-download" }, "Download report (HTML)");
  save.addEventListener("click", () => download(new Blob([html], { type: "text/html" }), `gpufleet-run-${id}.html`));
  return [h("div", { class: "toolbar" }, h("span", { class: "spacer" }), save), frame];
}

export async function renderRun(view, params, ctx) {
  const id = params[0];
  const r = await api(`/runs/${id}`);
  const done = r.status === "done";
  const report = h("div", { id: "report-holder" });
  replace(
    view,
    h("p", null, h("a", { href: "#/whatif" }, "← All runs")),
    h("h1", null, String(runName(r)), " ", statusBadge(r.status)),
    h(
      "div",
      { class: "cols" },
      section(
        "Run",
        table(
          [
            ["Kind", r.kind],
            ["Status", r.status],
            ["Created", `${fmt.time(r.created_at)} by ${r.created_by ?? "?"}`],
            ["Started", fmt.time(r.started_at)],
            ["Finished", fmt.time(r.finished_at)],
            ["Seeds", (r.request && r.request.seeds) ?? r.seeds],
            r.transfer_id != null ? ["Transfer", h("a", { href: `#/transfers/${r.transfer_id}` }, `#${r.transfer_id}`)] : null,
          ].filter(Boolean),
          [{ label: "", get: (x) => h("strong", null, x[0]) }, { label: "", get: (x) => (x[1] instanceof Node ? x[1] : fmt.text(x[1])) }],
          { cls: "grid kv" },
        ),
      ),
      section("Changes", changesList(r.request || r)),
    ),
    r.status === "failed" ? errorBox({ message: r.error || "The run failed.", code: "run-failed" }, "The run failed") : null,
    section("Report", report),
  );
  if (done) {
    replace(report, h("p", { class: "loading" }, "Loading the report…"));
    try {
      replace(report, ...(await reportFrame(id)));
    } catch (err) {
      replace(report, errorBox(err, "The report could not be loaded"));
    }
  } else if (r.status === "queued" || r.status === "running") {
    replace(report, h("p", { class: "loading" }, `The run is ${r.status}; this page refreshes until it is done.`));
    setTimeout(() => {
      if (view.isConnected) renderRun(view, params, ctx).catch((err) => view.appendChild(errorBox(err)));
    }, 2000);
  } else {
    replace(report, h("p", { class: "muted" }, "No report: the run did not finish."));
  }
}
