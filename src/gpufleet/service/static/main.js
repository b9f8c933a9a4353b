// The dashboard shell: hash routes, the signed-in caller, the navigation.

import { api, clearToken, errorBox, getToken } from "./api.js";
import { h, replace } from "./dom.js";
import { renderAudit } from "./audit.js";
import { renderFleet } from "./fleet.js";
import { renderLive } from "./live.js";
import { renderSignin } from "./signin.js";
import { renderTransfer, renderTransfers } from "./transfers.js";
import { renderRun, renderWhatif } from "./whatif.js";

const ROUTES = [
  { re: /^#\/signin$/, name: "signin", render: renderSignin, open: true },
  { re: /^#\/fleet$/, name: "fleet", render: renderFleet },
  { re: /^#\/live$/, name: "live", render: renderLive },
  { re: /^#\/transfers(?:\?(.*))?$/, name: "transfers", render: renderTransfers },
  { re: /^#\/transfers\/(\d+)$/, name: "transfers", render: renderTransfer },
  { re: /^#\/whatif$/, name: "whatif", render: renderWhatif },
  { re: /^#\/whatif\/(\d+)$/, name: "whatif", render: renderRun },
  { re: /^#\/audit$/, name: "audit", render: renderAudit },
];

const ctx = {
  me: null,
  flash: null,
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  async refreshMe() {
    ctx.me = getToken() ? await api("/me") : null;
    renderWho();
    return ctx.me;
  },
  signOut() {
    clearToken();
    ctx.me = null;
    renderWho();
    ctx.go("#/signin");
  },
  isFleetAdmin() {
    return Boolean(ctx.me && ctx.me.role === "fleet-admin");
  },
};

/** "alice · approver@xai": who the token speaks for. */
export function describeCaller(me) {
  if (!me) return "";
  const who = me.person || `token ${me.name ?? me.token_id}`;
  const scope = me.role === "fleet-admin" ? "fleet" : me.entity || "?";
  return `${who} · ${me.role}@${scope}`;
}

function renderWho() {
  const box = document.getElementById("who");
  if (!ctx.me) {
    replace(box, h("a", { href: "#/signin" }, "Sign in"));
  } else {
    replace(box, h("a", { href: "#/signin", class: "who-name", title: "Your token" }, describeCaller(ctx.me)), h("button", { type: "button", class: "link", onclick: () => ctx.signOut() }, "Sign out"));
  }
  for (const a of document.querySelectorAll("#nav a")) {
    a.hidden = a.dataset.needs === "fleet-admin" && !ctx.isFleetAdmin();
  }
}

function markNav(name) {
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.route === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

let navSeq = 0;

async function route() {
  const hash = location.hash || "#/fleet";
  const match = ROUTES.map((r) => ({ r, m: r.re.exec(hash) })).find((x) => x.m);
  const main = document.getElementById("view");
  const seq = ++navSeq;
  const view = h("div", { class: "page", "aria-busy": "true" }, h("p", { class: "loading" }, "Loading…"));
  replace(main, view);
  if (!match) {
    replace(view, h("h1", null, "Not found"), h("p", null, "No page at ", h("code", null, hash), ". ", h("a", { href: "#/fleet" }, "Go to the fleet.")));
    return;
  }
  if (!match.r.open && !getToken()) {
    ctx.flash = "Sign in with an API token first.";
    ctx.go("#/signin");
    return;
  }
  markNav(match.r.name);
  try {
    if (getToken() && !ctx.me) await ctx.refreshMe();
    if (seq !== navSeq) return;
    await match.r.render(view, match.m.slice(1), ctx);
  } catch (err) {
    if (seq === navSeq) replace(view, errorBox(err, "This page could not be loaded"));
  } finally {
    view.removeAttribute("aria-busy");
  }
}

window.addEventListener("gpufleet:unauthorized", (ev) => {
  clearToken();
  ctx.me = null;
  ctx.flash = `Signed out: ${ev.detail.message}`;
  renderWho();
  if (location.hash !== "#/signin") ctx.go("#/signin");
});
window.addEventListener("hashchange", route);
renderWho();
route();
