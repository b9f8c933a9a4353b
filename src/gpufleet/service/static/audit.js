// The audit log (fleet-admin): newest first, a page at a time; verify the hash chain;
// export the whole log for auditors.

import { api, apiBlob, errorBox } from "./api.js";
import { badge, download, fmt, h, replace, section, table } from "./dom.js";

const PAGE = 50;

function parse(v) {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function short(v) {
  const text = v === null || v === undefined ? "∅" : typeof v === "object" ? JSON.stringify(v) : String(v);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** What a record changed, as "field: before → after" lines (a create or delete: its name). */
export function changeLines(before, after) {
  const b = parse(before);
  const a = parse(after);
  if ((b == null || b === "") && a && typeof a === "object") return [`created ${short(a.name ?? a.id ?? "")}`.trim()];
  if ((a == null || a === "") && b && typeof b === "object") return [`deleted ${short(b.name ?? b.id ?? "")}`.trim()];
  if (!b || !a || typeof a !== "object" || typeof b !== "object") return [`${short(b)} → ${short(a)}`];
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].filter((k) => JSON.stringify(b[k]) !== JSON.stringify(a[k]));
  return keys.length ? keys.map((k) => `${k}: ${short(b[k])} → ${short(a[k])}`) : ["no field changed"];
}

function changeCell(r) {
  const lines = changeLines(r.before, r.after);
  const shown = lines.slice(0, 4).map((l) => h("div", null, l));
  const pre = h("pre", { class: "mono record" });
  const full = h("details", null, h("summary", null, lines.length > 4 ? `${lines.length - 4} more, and the full record` : "full record"), pre);
  // Built when opened: a run's record holds its whole result.
  full.addEventListener("toggle", () => {
    if (full.open && !pre.textContent) pre.textContent = `before: ${JSON.stringify(parse(r.before), null, 1)}\nafter: ${JSON.stringify(parse(r.after), null, 1)}`;
  });
  return h("div", { class: "wrap" }, shown, full);
}

async function loadPage(pageNo) {
  const probe = await api("/audit?limit=1&offset=0");
  const total = probe.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE));
  const p = Math.min(Math.max(1, pageNo), pages);
  // Page 1 holds the newest records: count back from the end of the log.
  const end = total - (p - 1) * PAGE;
  const offset = Math.max(0, end - PAGE);
  const data = await api(`/audit?limit=${end - offset || 1}&offset=${offset}`);
  return { items: (data.items || []).slice().reverse(), total, pages, page: p };
}

function exportLink(format) {
  const a = h("a", { href: `/api/v1/audit/export?format=${format}`, class: "button", id: `export-${format}`, download: `gpufleet-audit.${format}` }, `Export ${format.toUpperCase()}`);
  a.addEventListener("click", async (ev) => {
    ev.preventDefault();
    try {
      download(await apiBlob(`/audit/export?format=${format}`), `gpufleet-audit.${format}`);
    } catch (err) {
      a.after(errorBox(err, "Export failed"));
    }
  });
  return a;
}

export async function renderAudit(view, _params, ctx) {
  if (!ctx.isFleetAdmin()) {
    replace(view, h("h1", null, "Audit log"), h("p", { class: "notice" }, "The audit log is open to fleet admins only."));
    return;
  }
  let pageNo = 1;
  const verdict = h("div", { id: "verify-result", "aria-live": "polite" });
  const verifyBtn = h("button", { type: "button", id: "verify-chain", class: "primary" }, "Verify chain");
  verifyBtn.addEventListener("click", async () => {
    verifyBtn.disabled = true;
    replace(verdict, h("span", { class: "loading" }, "Verifying every record…"));
    try {
      const v = await api("/audit/verify");
      replace(verdict, h("div", { class: v.ok ? "success" : "error", role: "status" }, badge(v.ok ? "intact" : "broken", v.ok ? "ok" : "broken"), " ", h("span", { class: "verdict" }, String(v.message ?? (v.ok ? `${v.records} records, chain intact` : v.problem))), !v.ok && v.first_bad_seq != null ? h("div", null, `First bad record: #${v.first_bad_seq}`) : null));
    } catch (err) {
      replace(verdict, errorBox(err, "Verification failed"));
    } finally {
      verifyBtn.disabled = false;
    }
  });
  const holder = h("div");
  const pager = h("div", { class: "pager" });
  async function show(p) {
    const data = await loadPage(p);
    pageNo = data.page;
    replace(
      holder,
      table(
        data.items,
        [
          { label: "#", get: (r) => String(r.seq), num: true },
          { label: "When", get: (r) => fmt.time(r.at) },
          { label: "Actor", get: (r) => h("span", { class: "wrap" }, String(r.actor)) },
          { label: "Action", get: (r) => badge(String(r.action), "action") },
          { label: "Object", get: (r) => `${r.object_type} ${r.object_id}` },
          { label: "Change", get: changeCell },
          { label: "Hash", get: (r) => h("span", { class: "mono", title: `hash ${r.hash}\nprev ${r.prev_hash}` }, String(r.hash ?? "").slice(0, 12)) },
        ],
        { empty: "The audit log is empty.", rowAttrs: (r) => ({ dataset: { seq: String(r.seq) } }) },
      ),
    );
    const prev = h("button", { type: "button", id: "audit-newer", disabled: pageNo <= 1 }, "← Newer");
    const next = h("button", { type: "button", id: "audit-older", disabled: pageNo >= data.pages }, "Older →");
    prev.addEventListener("click", () => show(pageNo - 1).catch((e) => holder.prepend(errorBox(e))));
    next.addEventListener("click", () => show(pageNo + 1).catch((e) => holder.prepend(errorBox(e))));
    replace(pager, prev, h("span", { id: "audit-page" }, `Page ${pageNo} of ${data.pages} · ${fmt.int(data.total)} records`), next);
  }
  replace(
    view,
    h("h1", null, "Audit log"),
    section(
      "Integrity",
      h("p", { class: "hint" }, "Every change appends a record that commits to the previous record's hash; verifying recomputes the chain and names the first edited, removed or reordered record."),
      h("div", { class: "toolbar" }, verifyBtn, h("span", { class: "spacer" }), exportLink("csv"), exportLink("json")),
      verdict,
    ),
    section("Records", holder, pager),
  );
  await show(pageNo);
}
