// Transfers: the list (and a request form), and one transfer's page: its steps, the
// decisions, who may decide and why not, the impact assessment, and the actions the API
// says this caller may take now (`allowed_actions`).

import { api, errorBox, listAll } from "./api.js";
import { badge, fmt, h, kpi, replace, section, table } from "./dom.js";
import { requestForm } from "./request.js";

const ACTIONS = [
  { name: "assess", label: "Assess", cls: "primary", hint: "queue the impact assessment (a what-if run of the plan with and without this transfer)" },
  { name: "approve", label: "Approve", cls: "approve", hint: "record your approval" },
  { name: "reject", label: "Reject", cls: "danger", hint: "record your rejection (one eligible rejection rejects the transfer)" },
  { name: "activate", label: "Activate", cls: "primary", hint: "the approved transfer takes effect" },
  { name: "end", label: "End", cls: "", hint: "the transfer ends and the GPUs go back" },
  { name: "revoke", label: "Revoke", cls: "danger", hint: "withdraw an approved or active transfer, as if never made" },
];

function stateBadge(state) {
  return badge(String(state ?? "?"), String(state ?? "unknown"));
}

/** A paired estimate {mean, ci95_low, ci95_high} or a plain number: its mean. */
function mean(v) {
  return v && typeof v === "object" ? v.mean : v;
}

function interval(v, f) {
  if (!v || typeof v !== "object") return "—";
  if (v.ci95_low == null || v.ci95_high == null) return `— (${v.n ?? 1} seed${v.n === 1 ? "" : "s"})`;
  return `${f(v.ci95_low)} .. ${f(v.ci95_high)}`;
}

export async function renderTransfers(view, params, ctx) {
  const prefill = new URLSearchParams(params[0] || ""); // #/transfers?pool=...: the Live page's suggestions
  const rows = await listAll("/transfers");
  const open = rows.filter((t) => t.state === "requested" || t.state === "assessed").length;
  const mayRequest = ctx.me && ctx.me.person && ["entity-admin", "fleet-admin"].includes(ctx.me.role);
  replace(
    view,
    h("h1", null, "Transfers"),
    h(
      "div",
      { class: "kpis" },
      kpi("Transfers", fmt.int(rows.length)),
      kpi("Awaiting a decision", fmt.int(open), "requested or assessed"),
      kpi("In the plan", fmt.int(rows.filter((t) => ["approved", "active", "ended"].includes(t.state)).length), "approved, active or ended"),
    ),
    section(
      "Requests",
      table(
        rows,
        [
          { label: "#", get: (t) => String(t.id), num: true },
          { label: "Name", get: (t) => h("a", { href: `#/transfers/${t.id}`, class: "transfer-link" }, String(t.name)) },
          { label: "State", get: (t) => stateBadge(t.state) },
          { label: "GPUs", get: (t) => fmt.int(t.gpus), num: true },
          { label: "Pool", get: (t) => fmt.text(t.pool) },
          { label: "From → to", get: (t) => `${t.from_entity} → ${t.to_entity}${t.to_site ? ` @ ${t.to_site}` : ""}` },
          { label: "Period", get: (t) => (t.end ? `${t.start} .. ${t.end}` : `from ${t.start}`) },
          { label: "Price", get: (t) => fmt.usd(t.price_usd), num: true },
          { label: "Requested by", get: (t) => fmt.text(t.requested_by) },
          { label: "Requested", get: (t) => fmt.time(t.requested_at) },
        ],
        { empty: "No transfer you may see has been requested.", rowAttrs: (t) => ({ dataset: { transferId: String(t.id), state: String(t.state) } }) },
      ),
    ),
    mayRequest ? section("Request a transfer", await requestForm(ctx, prefill)) : null,
  );
  if (mayRequest && [...prefill.keys()].length) document.getElementById("request-form")?.scrollIntoView();
}

function summaryCard(page) {
  const t = page.transfer;
  const rows = [
    ["Pool", t.pool],
    ["GPUs", fmt.int(t.gpus)],
    ["From → to", `${t.from_entity} → ${t.to_entity}`],
    ["To site", t.to_site ?? "(stays at the pool's site)"],
    ["To program", t.to_program ?? "(the receiver's, as the plan infers)"],
    ["Period", t.end ? `${t.start} .. ${t.end} (a lease)` : `from ${t.start} (permanent)`],
    ["Value", fmt.usd(page.value_usd)],
    ["Related parties", page.related ? "yes: the same group" : "no"],
    ["Requested by", `${t.requested_by ?? "?"}, ${fmt.time(t.requested_at)}`],
    ["Note", t.note || "—"],
  ];
  return section(
    "Transfer",
    table(rows, [{ label: "Field", get: (r) => h("strong", null, r[0]) }, { label: "Value", get: (r) => fmt.text(r[1]) }], { cls: "grid kv" }),
  );
}

function approvalsCard(page) {
  const rule = page.needs_independent
    ? "independent directors must approve: a related-party transfer above the group's threshold"
    : page.related
      ? "a related-party transfer below the group's threshold"
      : "the parties are not related";
  return section(
    "Approvals",
    h(
      "p",
      { id: "approval-count" },
      h("strong", null, `${fmt.int(page.approvals_received)} of ${fmt.int(page.approvals_required)}`),
      ` eligible approvals received (${rule})`,
      page.rejections ? [", ", h("span", { class: "flag" }, `${page.rejections} rejection(s)`)] : null,
      ".",
    ),
    table(
      page.approvals || [],
      [
        { label: "Person", get: (a) => fmt.text(a.person) },
        { label: "Decision", get: (a) => badge(String(a.decision), String(a.decision)) },
        { label: "When", get: (a) => fmt.time(a.at) },
        { label: "Note", get: (a) => fmt.text(a.note) },
      ],
      { empty: "No decision yet." },
    ),
  );
}

function eligibilityCard(page, me) {
  const mine = me && me.person;
  return section(
    "Who may decide",
    h(
      "p",
      { class: "hint" },
      "Everyone in the register, and whether their decision counts: nobody approves their own request, a person with roles on both sides is conflicted, and a related-party transfer above the threshold needs independent directors.",
    ),
    table(
      page.eligibility || [],
      [
        { label: "Person", get: (e) => h("span", null, String(e.name), e.name === mine ? h("span", { class: "muted" }, " (you)") : null) },
        { label: "May decide", get: (e) => (e.eligible ? badge("eligible", "eligible") : badge("not eligible", "conflicted")) },
        {
          label: "Why not",
          get: (e) =>
            e.reasons && e.reasons.length
              ? h("div", null, e.reasons.map((r) => h("span", { class: "reason", dataset: { code: String(r.code) } }, badge(String(r.code), String(r.code)), " ", String(r.message))))
              : "—",
        },
      ],
      { empty: "Nobody is in the register.", rowAttrs: (e) => ({ class: e.eligible ? null : "ineligible", dataset: { person: String(e.name) } }) },
    ),
  );
}

function priceLine(page) {
  const t = page.transfer;
  const charge = page.assessment && page.assessment.charge;
  const flag = page.price_flag ?? (charge ? charge.below_fair_value : null);
  return h(
    "p",
    { id: "price-line" },
    "Agreed price ",
    h("strong", null, fmt.usd(t.price_usd)),
    charge ? [" against a fair charge of ", h("strong", null, fmt.usd(charge.fair_usd)), ` (${charge.rule}; ${charge.payer} pays ${charge.payee} for ${fmt.int(charge.gpu_hours)} GPU-hours)`] : " (the fair charge comes with the assessment)",
    flag === true ? [" ", h("span", { class: "flag", id: "below-fair-value" }, "⚑ below fair value")] : flag === false ? [" ", badge("at or above fair value", "ok")] : null,
  );
}

function milestoneTable(programs) {
  const rows = Object.entries(programs || {}).map(([name, p]) => Object.assign({ name }, p));
  return table(
    rows,
    [
      { label: "Program", get: (r) => h("strong", null, r.name) },
      { label: "Due", get: (r) => (r.milestone ? String(r.milestone.due).slice(0, 10) : "no milestone") },
      { label: "Shift", get: (r) => (r.milestone ? fmt.days(mean(r.milestone.shift_days)) : "—"), num: true },
      { label: "95% interval", get: (r) => (r.milestone ? interval(r.milestone.shift_days, fmt.days) : "—") },
      { label: "Reached without → with", get: (r) => (r.milestone ? `${String((r.milestone.reached_without || [])[0] ?? "not reached").slice(0, 10)} → ${String((r.milestone.reached_with || [])[0] ?? "not reached").slice(0, 10)}` : "—") },
      { label: "Mean queueing change", get: (r) => `${fmt.num(mean(r.queueing_delay_mean_s) / 3600)} h`, num: true },
    ],
    { empty: "No program in the plan.", rowAttrs: (r) => ({ dataset: { program: r.name } }) },
  );
}

function assessmentCard(page) {
  const a = page.assessment;
  const run = page.assessment_run;
  if (!a) {
    let status = h("p", { class: "muted" }, "Not assessed yet: an assessment simulates the plan with and without this transfer over several seeds, paired.");
    if (run && (run.status === "queued" || run.status === "running")) {
      status = h("p", { id: "assessment-status" }, "Assessment run ", h("a", { href: `#/whatif/${run.id}` }, `#${run.id}`), " is ", badge(run.status, run.status), "; this page refreshes when it is done.");
    } else if (run && run.status === "failed") {
      status = errorBox({ message: run.error || "the run failed", code: "run-failed" }, `Assessment run #${run.id} failed`);
    }
    return section("Impact assessment", status, priceLine(page));
  }
  const sd = a.stranded_gpu_days || {};
  const flag = page.price_flag;
  return section(
    "Impact assessment",
    h(
      "div",
      { class: "kpis" },
      kpi("Stranded GPU-days", h("span", { id: "assessed-stranded" }, `${fmt.int(mean(sd.without))} → ${fmt.int(mean(sd.with))}`), `without → with the transfer (${fmt.int(mean(sd.delta))})`),
      kpi("Fair charge", fmt.usd(a.charge ? a.charge.fair_usd : null), a.charge ? a.charge.rule : ""),
      kpi("Agreed price", fmt.usd(page.transfer.price_usd), flag ? "below fair value" : flag === false ? "at or above fair value" : "", { class: flag ? "kpi alert" : "kpi" }),
    ),
    priceLine(page),
    h("h3", null, "Milestone shifts (with the transfer − without; negative: earlier)"),
    milestoneTable(a.programs),
    h("p", { class: "hint" }, `Seeds ${(a.seeds || []).join(", ")}. `, run ? h("a", { href: `#/whatif/${run.id}`, id: "assessment-report-link" }, "Open the assessment's full report") : null),
  );
}

function stepsCard(page) {
  const steps = page.steps || [];
  return section(
    "Steps",
    h(
      "ol",
      { class: "timeline", id: "steps" },
      steps.map((st) =>
        h(
          "li",
          null,
          h("div", null, st.from_state ? [stateBadge(st.from_state), " → "] : null, stateBadge(st.to_state)),
          h("div", null, "by ", h("strong", { class: "actor" }, String(st.actor))),
          h("div", { class: "when" }, fmt.time(st.at)),
          st.note ? h("div", { class: "muted" }, `“${st.note}”`) : null,
        ),
      ),
    ),
  );
}

/** The body each action's endpoint takes (assess: seeds; the others: a note, the version seen). */
function actionBody(name, t, fields) {
  if (name === "assess") return { seeds: Number(fields.seeds.value) || 3 };
  const body = { note: fields.note.value, expected_version: t.version };
  if (name === "end" && fields.endAt.value) body.at = fields.endAt.value;
  return body;
}

function actionsCard(page, view, ctx) {
  const t = page.transfer;
  const allowed = page.allowed_actions || [];
  const fields = {
    note: h("textarea", { id: "action-note", name: "note", placeholder: "Why (kept with the step and in the audit log)", maxlength: "2000" }),
    seeds: h("input", { id: "assess-seeds", type: "number", min: "1", max: "20", value: "3" }),
    endAt: h("input", { id: "end-at", type: "date" }),
  };
  const out = h("div", { id: "action-result", "aria-live": "polite" });
  const buttons = ACTIONS.filter((a) => allowed.includes(a.name)).map((a) => {
    const b = h("button", { type: "button", id: `action-${a.name}`, class: a.cls, title: a.hint, dataset: { action: a.name } }, a.label);
    b.addEventListener("click", async () => {
      const all = view.querySelectorAll(".actions button");
      for (const x of all) x.disabled = true;
      replace(out, h("p", { class: "loading" }, `${a.label}…`));
      try {
        await api(`/transfers/${t.id}/${a.name}`, { method: "POST", body: actionBody(a.name, t, fields) });
        ctx.flash = a.name === "assess" ? "Assessment queued." : `${a.label}: recorded.`;
        await renderTransfer(view, [String(t.id)], ctx);
      } catch (err) {
        replace(out, errorBox(err, `${a.label} was refused`));
        for (const x of all) x.disabled = false;
      }
    });
    return b;
  });
  if (!buttons.length) {
    return section("Your actions", h("p", { class: "muted", id: "no-actions" }, `Nothing is open to you (${ctx.me ? `${ctx.me.role}@${ctx.me.entity ?? "fleet"}` : "?"}) on this ${t.state} transfer now.`));
  }
  const decides = allowed.some((x) => x !== "assess");
  return section(
    "Your actions",
    decides ? [h("label", { for: "action-note" }, "Note"), fields.note] : null,
    allowed.includes("assess") ? h("div", { class: "form-row" }, h("div", null, h("label", { for: "assess-seeds" }, "Seeds for the assessment"), fields.seeds)) : null,
    allowed.includes("end") ? h("div", { class: "form-row" }, h("div", null, h("label", { for: "end-at" }, t.end ? "End at (default: its own end)" : "End at (required: a permanent transfer)"), fields.endAt)) : null,
    h("div", { class: "actions" }, buttons),
    out,
  );
}

export async function renderTransfer(view, params, ctx) {
  const page = await api(`/transfers/${params[0]}`);
  const t = page.transfer;
  const flash = ctx.flash ? h("div", { class: "success", role: "status" }, ctx.flash) : null;
  ctx.flash = null;
  replace(
    view,
    h("p", null, h("a", { href: "#/transfers" }, "← All transfers")),
    h("h1", null, `#${t.id} ${t.name} `, h("span", { id: "transfer-state", dataset: { state: t.state } }, stateBadge(t.state))),
    flash,
    h("div", { class: "cols" }, summaryCard(page), h("div", { class: "stack" }, actionsCard(page, view, ctx), approvalsCard(page))),
    eligibilityCard(page, ctx.me),
    assessmentCard(page),
    stepsCard(page),
  );
  const run = page.assessment_run;
  if (!page.assessment && run && (run.status === "queued" || run.status === "running")) {
    setTimeout(() => {
      if (view.isConnected) renderTransfer(view, params, ctx).catch((err) => view.prepend(errorBox(err)));
    }, 1500);
  }
}
