// Sign-in: paste an API token; it is checked with GET /me and kept for this tab only.

import { api, errorBox, setToken } from "./api.js";
import { fmt, h, replace, section, table } from "./dom.js";

function whoTable(me) {
  const rows = [
    ["Person", me.person ?? "— (a token without a person)"],
    ["Role", me.role],
    ["Entity", me.role === "fleet-admin" ? "the whole fleet" : me.entity],
    ["Token", `${me.name ?? ""} (id ${me.token_id ?? "?"})`],
  ];
  return table(rows, [
    { label: "", get: (r) => h("strong", null, r[0]) },
    { label: "", get: (r) => fmt.text(r[1]) },
  ], { cls: "grid kv" });
}

export async function renderSignin(view, _params, ctx) {
  const input = h("input", { type: "password", id: "token-input", name: "token", autocomplete: "off", spellcheck: "false", placeholder: "gf_…", required: true });
  const result = h("div", { id: "signin-result" });
  const form = h(
    "form",
    { class: "signin", id: "signin-form" },
    h("label", { for: "token-input" }, "API token"),
    input,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    h("p", { class: "muted" }, "A fleet admin creates tokens (", h("code", null, "gpufleet admin create-token --role fleet-admin"), " prints the first one). The token stays in this browser tab only and is sent to this server alone."),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    replace(result, h("p", { class: "loading" }, "Checking the token…"));
    try {
      const me = await api("/me", { token, onUnauthorized: false });
      setToken(token);
      ctx.me = me;
      await ctx.refreshMe();
      ctx.go("#/fleet");
    } catch (err) {
      replace(result, errorBox(err, "Sign-in failed"));
    }
  });
  const flash = ctx.flash ? h("p", { class: "notice" }, ctx.flash) : null;
  ctx.flash = null;
  const current = ctx.me
    ? section("Signed in", h("p", { id: "whoami" }, "You are signed in as ", h("strong", null, ctx.me.person || `token ${ctx.me.name}`), "."), whoTable(ctx.me), h("button", { type: "button", onclick: () => ctx.signOut() }, "Sign out"))
    : null;
  replace(view, h("h1", null, ctx.me ? "Your token" : "Sign in"), flash, current, section(ctx.me ? "Use another token" : "Sign in with an API token", form, result));
  if (!ctx.me) input.focus();
}
