// The form that requests a transfer (POST /transfers): pick a pool your entity holds,
// the receiver, the dates and the price; the API checks the rest and says what is wrong.

import { api, errorBox, listAll } from "./api.js";
import { h, replace } from "./dom.js";

function field(id, label, input, hint) {
  return h("div", null, h("label", { for: id }, label), input, hint ? h("p", { class: "hint" }, hint) : null);
}

function options(names, blank) {
  return [blank !== undefined ? h("option", { value: "" }, blank) : null, ...names.map((n) => h("option", { value: n }, n))];
}

/** Fields given in `prefill` (URLSearchParams: the Live page's suggested lease) are set
 * as given; a select keeps its default when the value is not one of its options. */
function fill(inputs, prefill) {
  for (const [key, input] of Object.entries(inputs)) {
    const value = prefill.get(key);
    if (value === null) continue;
    if (input.tagName === "SELECT" && ![...input.options].some((o) => o.value === value)) continue;
    input.value = value;
  }
}

export async function requestForm(ctx, prefill = new URLSearchParams()) {
  const [pools, entities, sites] = await Promise.all([listAll("/pools"), listAll("/entities"), listAll("/sites")]);
  const own = ctx.me.role === "fleet-admin" ? pools : pools.filter((p) => p.owner === ctx.me.entity);
  const inputs = {
    pool: h("select", { id: "req-pool", required: true }, own.map((p) => h("option", { value: p.name }, `${p.name} (${p.owner}, ${p.nodes * p.gpus_per_node} ${p.gpu_type})`))),
    gpus: h("input", { id: "req-gpus", type: "number", min: "1", required: true }),
    to: h("select", { id: "req-to", required: true }, options(entities.map((e) => e.name))),
    to_site: h("select", { id: "req-site" }, options(sites.map((x) => x.name), "(stays at the pool's site)")),
    to_program: h("input", { id: "req-program", placeholder: "(the receiver's program)" }),
    start: h("input", { id: "req-start", type: "date", required: true }),
    end: h("input", { id: "req-end", type: "date" }),
    price_usd: h("input", { id: "req-price", type: "number", min: "0", step: "any", value: "0" }),
    name: h("input", { id: "req-name", maxlength: "200", placeholder: "(made from the fields)" }),
    note: h("textarea", { id: "req-note", maxlength: "2000" }),
  };
  const sizeOf = (name) => {
    const p = own.find((x) => x.name === name);
    return p ? String(p.nodes * p.gpus_per_node) : "";
  };
  inputs.gpus.value = sizeOf(inputs.pool.value);
  inputs.pool.addEventListener("change", () => {
    inputs.gpus.value = sizeOf(inputs.pool.value);
  });
  const giver = () => (own.find((p) => p.name === inputs.pool.value) || {}).owner;
  const other = entities.find((e) => e.name !== giver());
  if (other) inputs.to.value = other.name;
  fill(inputs, prefill);
  if (!own.length) return h("p", { class: "muted" }, "Your entity holds no pool to transfer from.");
  const out = h("div", { id: "request-result", "aria-live": "polite" });
  const form = h(
    "form",
    { id: "request-form" },
    h(
      "div",
      { class: "form-row" },
      field("req-pool", "Pool", inputs.pool),
      field("req-gpus", "GPUs", inputs.gpus),
      field("req-to", "To entity", inputs.to),
      field("req-site", "To site", inputs.to_site),
      field("req-program", "To program", inputs.to_program),
    ),
    h(
      "div",
      { class: "form-row" },
      field("req-start", "Start", inputs.start),
      field("req-end", "End", inputs.end, "empty: permanent; a date: a lease"),
      field("req-price", "Price (USD)", inputs.price_usd, "what the receiver pays; the assessment gives the fair charge"),
      field("req-name", "Name", inputs.name),
    ),
    field("req-note", "Note", inputs.note),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "request-submit" }, "Request")),
    out,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { pool: inputs.pool.value, gpus: Number(inputs.gpus.value), to: inputs.to.value, start: inputs.start.value, price_usd: Number(inputs.price_usd.value || 0) };
    for (const k of ["to_site", "to_program", "end", "name", "note"]) {
      if (inputs[k].value.trim()) body[k] = inputs[k].value.trim();
    }
    replace(out, h("p", { class: "loading" }, "Requesting…"));
    try {
      const page = await api("/transfers", { method: "POST", body });
      ctx.flash = "Requested. Assess it next: approvers need the assessment.";
      ctx.go(`#/transfers/${page.transfer.id}`);
    } catch (err) {
      replace(out, errorBox(err, "The request was refused"));
    }
  });
  return form;
}
